/**
 * Step Functions on one machine: the same ASL document that runs on AWS, executed by
 * `aws-local-stepfunctions`, behind a small HTTP endpoint that speaks the Step Functions
 * JSON protocol for the operations Gyre uses (StartExecution, DescribeExecution,
 * StopExecution, SendTaskSuccess, SendTaskFailure, SendTaskHeartbeat). Handlers therefore
 * use `@aws-sdk/client-sfn` in both runtimes.
 *
 * What the interpreter lacks, this adapter supplies:
 * - `.waitForTaskToken` SQS tasks: the message is sent through the real SQS client, and the
 *   state waits for SendTaskSuccess/SendTaskFailure with the execution's task token.
 * - `HeartbeatSeconds`/`HeartbeatSecondsPath`: a silent task fails with
 *   `States.HeartbeatTimeout`; `TimeoutSeconds`/`TimeoutSecondsPath` of a task-token task:
 *   it fails with `States.Timeout`; either way the document's own Catch/Retry apply.
 * - Lambda tasks run local functions, found by the function name in the ARN.
 * Limits: one task token per execution (a Retry on a waitForTaskToken state would reuse it;
 * Gyre's document retries by starting a new execution instead); the `...Path` fields are read
 * from the execution input. Executions live in memory: after a restart DescribeExecution
 * answers ExecutionDoesNotExist and Gyre's reconciler re-drives the jobs.
 */
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";

// aws-local-stepfunctions uses Promise.withResolvers (Node 22+).
const P = Promise as unknown as { withResolvers?: unknown };
P.withResolvers ??= <T>() => {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
};

/** The one state-machine document, as infra deploys it (`infra/job-allocation.asl.json`). */
export const ASL_PATH = fileURLToPath(new URL("../../../../infra/job-allocation.asl.json", import.meta.url));

type LocalFunction = (input: unknown) => Promise<unknown>;

interface TaskState {
  Type: string;
  Resource?: string;
  HeartbeatSeconds?: number;
  HeartbeatSecondsPath?: string;
  TimeoutSeconds?: number;
  TimeoutSecondsPath?: string;
}

interface Execution {
  arn: string;
  name: string;
  input: string;
  status: "RUNNING" | "SUCCEEDED" | "FAILED" | "ABORTED" | "TIMED_OUT";
  startDate: number;
  stopDate?: number;
  output?: string;
  error?: string;
  cause?: string;
  abort: () => void;
}

interface Waiter {
  execution: string;
  resolve: (output: unknown) => void;
  reject: (error: Error) => void;
  heartbeatMs?: number;
  timer?: NodeJS.Timeout;
  /** The task's whole-life limit (`TimeoutSeconds`). */
  deadline?: NodeJS.Timeout;
}

class ServiceError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

const namedError = (name: string, message: string) => Object.assign(new Error(message), { name });

function readPath(path: string, input: unknown): unknown {
  if (!path.startsWith("$")) return undefined;
  let value: unknown = input;
  for (const part of path.slice(1).split(".").filter(Boolean)) {
    value = (value as Record<string, unknown> | undefined)?.[part];
  }
  return value;
}

export interface LocalStepFunctionsOptions {
  /** The ASL document's text, with `${Name}` placeholders. */
  definition: string;
  stateMachineArn: string;
  /** Values for the document's `${Name}` placeholders. */
  substitutions: Record<string, string>;
  /** Local functions by Lambda function name. */
  functions: Record<string, LocalFunction>;
  sqs: SQSClient;
  /** How many finished executions to remember for DescribeExecution. */
  keepFinished?: number;
  /** Told about every execution that fails (an execution failing means a bug or an outage). */
  onFailure?: (name: string, error: string | undefined, cause: string | undefined) => void;
}

export class LocalStepFunctions {
  private readonly executions = new Map<string, Execution>();
  private readonly waiters = new Map<string, Waiter>();
  private readonly states: Record<string, TaskState>;
  private readonly definition: Record<string, unknown>;
  private machine: Promise<{
    run: (input: unknown, options: unknown) => { result: Promise<unknown>; abort: () => void };
  }>;
  private server?: Server;

  constructor(private readonly options: LocalStepFunctionsOptions) {
    let text = options.definition;
    for (const [name, value] of Object.entries(options.substitutions))
      text = text.split(`\${${name}}`).join(value);
    const missing = /\$\{([A-Za-z0-9_]+)\}/.exec(text);
    if (missing) throw new Error(`The state machine definition needs a value for \${${missing[1]}}.`);
    this.definition = JSON.parse(text);
    this.states = this.definition.States as Record<string, TaskState>;
    for (const [name, state] of Object.entries(this.states)) {
      if (state.Type === "Task" && !this.isQueueTask(state) && !this.functionName(state)) {
        throw new Error(`State ${name}: resource ${state.Resource} has no local implementation.`);
      }
    }
    this.machine = import("aws-local-stepfunctions").then(
      ({ StateMachine }) =>
        new StateMachine(this.definition as never, { validationOptions: { checkPaths: false } }) as never,
    );
  }

  private isQueueTask(state: TaskState): boolean {
    return state.Resource === "arn:aws:states:::sqs:sendMessage.waitForTaskToken";
  }

  private functionName(state: TaskState): string | undefined {
    const m = /^arn:aws:lambda:[^:]*:[^:]*:function:([^:]+)$/.exec(state.Resource ?? "");
    return m && this.options.functions[m[1]!] ? m[1] : undefined;
  }

  async startExecution(name: string, input: string): Promise<{ executionArn: string; startDate: number }> {
    if (!/^[A-Za-z0-9_-]{1,80}$/.test(name))
      throw new ServiceError("InvalidName", `Invalid execution name: ${name}`);
    const arn = `${this.options.stateMachineArn.replace(":stateMachine:", ":execution:")}:${name}`;
    const existing = this.executions.get(name);
    if (existing) {
      if (existing.status === "RUNNING" && existing.input === input)
        return { executionArn: arn, startDate: existing.startDate / 1000 };
      throw new ServiceError("ExecutionAlreadyExists", `Execution already exists: '${arn}'`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(input);
    } catch {
      throw new ServiceError("InvalidExecutionInput", "Invalid execution input: not JSON.");
    }
    const token = `${name}.${randomBytes(16).toString("hex")}`;
    const overrides: Record<string, LocalFunction> = {};
    for (const [stateName, state] of Object.entries(this.states)) {
      if (state.Type !== "Task") continue;
      if (this.isQueueTask(state))
        overrides[stateName] = (params) => this.queueTask(name, token, state, parsed, params);
      else overrides[stateName] = this.options.functions[this.functionName(state)!]!;
    }
    const machine = await this.machine;
    const startDate = Date.now();
    const run = machine.run(parsed, {
      overrides: { taskResourceLocalHandlers: overrides },
      context: {
        Execution: { Id: arn, Name: name, Input: parsed, StartTime: new Date(startDate).toISOString() },
        StateMachine: { Id: this.options.stateMachineArn },
        Task: { Token: token },
      },
    });
    const execution: Execution = { arn, name, input, status: "RUNNING", startDate, abort: run.abort };
    this.executions.set(name, execution);
    run.result.then(
      (output) => this.settle(execution, { status: "SUCCEEDED", output: JSON.stringify(output ?? null) }),
      (error: Error & { cause?: { name?: string; message?: string } }) => {
        const inner = error.cause ?? error;
        const aborted = error.name === "ExecutionAbortedError";
        this.settle(execution, {
          status: aborted ? "ABORTED" : "FAILED",
          error: inner.name,
          cause: inner.message,
        });
        if (!aborted) this.options.onFailure?.(name, inner.name, inner.message);
      },
    );
    return { executionArn: arn, startDate: startDate / 1000 };
  }

  private settle(execution: Execution, end: Partial<Execution>): void {
    if (execution.status !== "RUNNING") return;
    Object.assign(execution, end, { stopDate: Date.now() });
    for (const [token, waiter] of this.waiters) {
      if (waiter.execution === execution.name) this.forget(token, waiter);
    }
    const keep = this.options.keepFinished ?? 10_000;
    if (this.executions.size > keep) {
      for (const [name, e] of this.executions) {
        if (this.executions.size <= keep) break;
        if (e.status !== "RUNNING") this.executions.delete(name);
      }
    }
  }

  private async queueTask(
    execution: string,
    token: string,
    state: TaskState,
    executionInput: unknown,
    params: unknown,
  ) {
    const { QueueUrl, MessageBody } = params as { QueueUrl: string; MessageBody: unknown };
    const heartbeat =
      state.HeartbeatSeconds ??
      (state.HeartbeatSecondsPath ? readPath(state.HeartbeatSecondsPath, executionInput) : undefined);
    const timeout =
      state.TimeoutSeconds ??
      (state.TimeoutSecondsPath ? readPath(state.TimeoutSecondsPath, executionInput) : undefined);
    const result = new Promise<unknown>((resolve, reject) => {
      const waiter: Waiter = {
        execution,
        resolve,
        reject,
        heartbeatMs: typeof heartbeat === "number" ? heartbeat * 1000 : undefined,
      };
      this.waiters.set(token, waiter);
      this.armHeartbeat(token, waiter);
      if (typeof timeout === "number") {
        waiter.deadline = setTimeout(() => {
          this.forget(token, waiter);
          reject(namedError("States.Timeout", "The task did not finish within its TimeoutSeconds."));
        }, timeout * 1000);
        waiter.deadline.unref();
      }
    });
    await this.options.sqs.send(
      new SendMessageCommand({
        QueueUrl,
        MessageBody: typeof MessageBody === "string" ? MessageBody : JSON.stringify(MessageBody),
      }),
    );
    return result;
  }

  private forget(token: string, waiter: Waiter): void {
    clearTimeout(waiter.timer);
    clearTimeout(waiter.deadline);
    this.waiters.delete(token);
  }

  private armHeartbeat(token: string, waiter: Waiter): void {
    clearTimeout(waiter.timer);
    if (!waiter.heartbeatMs) return;
    waiter.timer = setTimeout(() => {
      this.forget(token, waiter);
      waiter.reject(namedError("States.HeartbeatTimeout", "The task did not send a heartbeat in time."));
    }, waiter.heartbeatMs);
    waiter.timer.unref();
  }

  private waiter(token: unknown): [string, Waiter] {
    if (typeof token !== "string" || !token) throw new ServiceError("InvalidToken", "Invalid task token.");
    const waiter = this.waiters.get(token);
    if (!waiter) throw new ServiceError("TaskDoesNotExist", "Task does not exist anymore");
    return [token, waiter];
  }

  /** Dispatches one Step Functions API operation. */
  async call(operation: string, body: Record<string, unknown>): Promise<unknown> {
    switch (operation) {
      case "StartExecution":
        return this.startExecution(
          String(body.name ?? randomBytes(16).toString("hex")),
          String(body.input ?? "{}"),
        );
      case "DescribeExecution": {
        const name =
          String(body.executionArn ?? "")
            .split(":")
            .at(-1) ?? "";
        const e = this.executions.get(name);
        if (!e)
          throw new ServiceError("ExecutionDoesNotExist", `Execution does not exist: '${body.executionArn}'`);
        return {
          executionArn: e.arn,
          stateMachineArn: this.options.stateMachineArn,
          name: e.name,
          status: e.status,
          startDate: e.startDate / 1000,
          ...(e.stopDate ? { stopDate: e.stopDate / 1000 } : {}),
          input: e.input,
          ...(e.output !== undefined ? { output: e.output } : {}),
          ...(e.error ? { error: e.error, cause: e.cause } : {}),
        };
      }
      case "StopExecution": {
        const name =
          String(body.executionArn ?? "")
            .split(":")
            .at(-1) ?? "";
        const e = this.executions.get(name);
        if (!e)
          throw new ServiceError("ExecutionDoesNotExist", `Execution does not exist: '${body.executionArn}'`);
        e.abort();
        this.settle(e, {
          status: "ABORTED",
          error: body.error as string | undefined,
          cause: body.cause as string | undefined,
        });
        return { stopDate: Date.now() / 1000 };
      }
      case "SendTaskSuccess": {
        const [token, waiter] = this.waiter(body.taskToken);
        let output: unknown;
        try {
          output = JSON.parse(String(body.output));
        } catch {
          throw new ServiceError("InvalidOutput", "Invalid output: not JSON.");
        }
        this.forget(token, waiter);
        waiter.resolve(output);
        return {};
      }
      case "SendTaskFailure": {
        const [token, waiter] = this.waiter(body.taskToken);
        this.forget(token, waiter);
        waiter.reject(namedError(String(body.error ?? "States.TaskFailed"), String(body.cause ?? "")));
        return {};
      }
      case "SendTaskHeartbeat": {
        const [token, waiter] = this.waiter(body.taskToken);
        this.armHeartbeat(token, waiter);
        return {};
      }
      default:
        throw new ServiceError(
          "UnknownOperationException",
          `Operation ${operation} is not supported locally.`,
        );
    }
  }

  /** Serves the JSON protocol on 127.0.0.1; resolves to the endpoint URL. */
  async listen(port = 0): Promise<string> {
    this.server = createServer((req, res) => void this.serve(req, res));
    await new Promise<void>((resolve) => this.server!.listen(port, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const operation =
      String(req.headers["x-amz-target"] ?? "")
        .split(".")
        .at(-1) ?? "";
    let status = 200;
    let payload: unknown;
    try {
      payload = await this.call(operation, JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}"));
    } catch (error) {
      status = 400;
      payload =
        error instanceof ServiceError
          ? { __type: error.type, message: error.message }
          : { __type: "InvalidRequest", message: error instanceof Error ? error.message : String(error) };
    }
    res.writeHead(status, { "content-type": "application/x-amz-json-1.0" });
    res.end(JSON.stringify(payload));
  }

  async close(): Promise<void> {
    for (const e of this.executions.values()) if (e.status === "RUNNING") e.abort();
    for (const [token, w] of this.waiters) this.forget(token, w);
    if (this.server) {
      this.server.closeAllConnections();
      await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    }
  }
}
