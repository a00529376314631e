/**
 * The CircleCI API v2 contract, walked from the published OpenAPI document
 * (`shared/corpus/circleci-api-v2.openapi.json`, read as it is, never edited).
 *
 * Every operation in the document is called against one local runtime that holds real data: a
 * project whose pipeline ran (a build job with a context, artifacts and test results, a no-op
 * job, workflows waiting on approvals), a setup pipeline that is continued, env vars, contexts,
 * checkout keys. The first answer to an operation says whether Gyre implements it: the app's
 * own 404, "Not found: METHOD path" (app.ts `notFound`), means no route. Every implemented
 * operation must answer the status the document gives for success, with a body its schema for
 * that status accepts; its error answers (unknown resource, malformed body, no token) must have
 * the document's error shape. The operations not implemented are listed below, exactly.
 */
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
// ajv (ajv-validator/ajv): the JSON Schema validator most OpenAPI tooling builds on, actively
// maintained, with OpenAPI 3.0's `nullable` built in; ajv-formats (same organisation) checks
// `uuid`, `date-time`, `int64`, `float`, `double`. The OpenAPI response validators on npm wrap
// ajv too but are maintained less (openapi-response-validator) or tied to a server framework
// (express-openapi-validator), and would still need this document's `x-nullable` read.
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { continuationKey } from "../packages/core/src/pipeline/index.ts";
import { CORPUS } from "./corpus.ts";
import { gitRepo, pushPayload, sign, tempDir, waitFor } from "./support.ts";

/**
 * The operations Gyre does not implement yet, by operationId. Adding an operation without
 * removing it here fails the test, and so does losing one. Issue 9 wants every operation of the
 * document that applies to a self-hosted install, and Gyre has them all: the list is empty.
 * Only an operation a self-hosted install cannot have (none so far) may be listed here, with
 * the reason beside it.
 */
const NOT_IMPLEMENTED: string[] = [];

// ---------------------------------------------------------------------------------------------
// The document and its validator

type Schema = Record<string, unknown>;
interface Operation {
  id: string;
  method: string;
  /** As the document writes it, e.g. `/project/{project-slug}/job/{job-number}`. */
  path: string;
  params: string[];
  /** The status the document gives for success (each operation has one, besides `default`). */
  success: string;
  responses: Record<string, { content?: { "application/json"?: { schema: Schema } } }>;
  requestBody?: Schema;
}

const spec = JSON.parse(readFileSync(join(CORPUS, "circleci-api-v2.openapi.json"), "utf8")) as {
  paths: Record<string, Record<string, Record<string, unknown>>>;
};

const operations: Operation[] = Object.entries(spec.paths).flatMap(([path, methods]) =>
  Object.entries(methods).map(([method, raw]) => {
    const responses = raw.responses as Operation["responses"];
    const success = Object.keys(responses).filter((s) => s !== "default");
    if (success.length !== 1) throw new Error(`${raw.operationId}: expected one success status`);
    const body = raw.requestBody as { content: { "application/json": { schema: Schema } } } | undefined;
    return {
      id: raw.operationId as string,
      method: method.toUpperCase(),
      path,
      params: [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!),
      success: success[0]!,
      responses,
      requestBody: body?.content["application/json"].schema,
    };
  }),
);
const operation = new Map(operations.map((o) => [o.id, o]));

/**
 * Where the document is wrong about what CircleCI answers, its copy in memory is corrected here,
 * each correction with its reason. Keep this short: anything else the validator rejects is
 * Gyre's to fix, not the document's.
 */
interface Erratum {
  op: string;
  status: string;
  /** Property names from the response's schema down; `[]` steps into an array's items. */
  property: string[];
  reason: string;
  fix: (schema: Schema) => void;
}
const ERRATA: Erratum[] = [
  {
    op: "listWorkflowJobs",
    status: "200",
    property: ["items", "[]", "started_at"],
    reason:
      "CircleCI answers `started_at: null` for a job that has not started (blocked, on hold, an " +
      "approval), as it does `stopped_at`, which the document marks nullable.",
    fix: (schema) => {
      schema["x-nullable"] = true;
    },
  },
];
for (const erratum of ERRATA) {
  let here = operation.get(erratum.op)?.responses[erratum.status]?.content?.["application/json"]?.schema;
  for (const name of erratum.property) {
    const next =
      name === "[]" ? here?.items : (here?.properties as Record<string, Schema> | undefined)?.[name];
    here = next as Schema | undefined;
  }
  if (!here) throw new Error(`Erratum for ${erratum.op} names no schema: ${erratum.property.join(".")}`);
  erratum.fix(here);
}

/** What a local `$ref` (`#/components/schemas/Job`) points at in the document. */
function resolveRef(ref: string): unknown {
  if (!ref.startsWith("#/")) throw new Error(`Only references into the document are read, not ${ref}`);
  const found = at(spec, ref.slice(1));
  if (found === undefined) throw new Error(`The document has nothing at ${ref}`);
  return found;
}

/**
 * A response schema as ajv reads it. The document marks nullable fields with `x-nullable: true`
 * (a Swagger 2 extension its generator kept) where OpenAPI 3.0 says `nullable: true`, and
 * CircleCI answers `null` there: one is read as the other, so ajv's OpenAPI `nullable` applies.
 * A `$ref` is replaced by what it points at (OpenAPI 3.0 ignores a `$ref`'s siblings). This copy
 * of the document inlines every schema; later ones refer into `components/schemas`.
 */
function openApiSchema(schema: unknown, depth = 0): unknown {
  if (depth > 64) throw new Error("A schema refers to itself: give ajv the references instead");
  if (Array.isArray(schema)) return schema.map((s) => openApiSchema(s, depth + 1));
  if (schema === null || typeof schema !== "object") return schema;
  const { $ref } = schema as Schema;
  if (typeof $ref === "string") return openApiSchema(resolveRef($ref), depth + 1);
  return Object.fromEntries(
    Object.entries(schema).map(([k, v]) => [
      k === "x-nullable" ? "nullable" : k,
      openApiSchema(v, depth + 1),
    ]),
  );
}

// Strict: a keyword or format the validator does not know fails compilation instead of being
// ignored. `example` is OpenAPI's annotation; `format: integer` (on schedule timetables) is
// the document's own name for what `type: integer` already says.
const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: true, strictTuples: true });
addFormats.default(ajv);
ajv.addKeyword({ keyword: "example" });
ajv.addFormat("integer", { type: "number", validate: (n: number) => Number.isInteger(n) });

const validators = new Map<Schema, ValidateFunction>();
function validatorFor(schema: Schema): ValidateFunction {
  let validate = validators.get(schema);
  if (!validate) {
    validate = ajv.compile(openApiSchema(schema) as Schema);
    validators.set(schema, validate);
  }
  return validate;
}

function responseSchema(op: Operation, status: string): Schema {
  const schema = op.responses[status]?.content?.["application/json"]?.schema;
  if (!schema) throw new Error(`${op.id}: the document has no JSON schema for ${status}`);
  return schema;
}

/** The value at a JSON pointer (ajv's `instancePath`), to show what was rejected. */
function at(value: unknown, pointer: string): unknown {
  let here = value;
  for (const part of pointer.split("/").slice(1)) {
    const key = part.replaceAll("~1", "/").replaceAll("~0", "~");
    here = here !== null && typeof here === "object" ? (here as Record<string, unknown>)[key] : undefined;
  }
  return here;
}

function describeErrors(errors: ErrorObject[], value: unknown): string {
  return errors
    .map((e) => {
      const where = e.instancePath || "(the body)";
      const allowed = e.keyword === "enum" ? ` ${JSON.stringify(e.params.allowedValues)}` : "";
      const got = e.keyword === "required" ? "" : `, got ${JSON.stringify(at(value, e.instancePath))}`;
      return `  ${where} ${e.message}${allowed}${got}`;
    })
    .join("\n");
}

/** Throws, naming the operation and its path, when `value` does not match `schema`. */
function check(schema: Schema, value: unknown, what: string): void {
  const validate = validatorFor(schema);
  if (!validate(value)) {
    throw new Error(
      `${what}: the document's schema rejects it:\n${describeErrors(validate.errors ?? [], value)}\n` +
        `body: ${JSON.stringify(value).slice(0, 2000)}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// The data the calls use

const ORG = "gh/acme";
const SLUG = "gh/acme/contract";
const SETUP_SLUG = "gh/acme/contract-setup";
const BROKEN_SLUG = "gh/acme/contract-broken";
const CONTEXT = "contract-context";
const NO_SUCH_ID = "00000000-0000-4000-8000-000000000000";

const CONFIG = `version: 2.1
parameters:
  target:
    type: string
    default: nowhere
jobs:
  build:
    machine: true
    steps:
      - checkout
      - run:
          name: Outputs
          command: |
            mkdir -p out test-results
            echo hello > out/hello.txt
            cat > test-results/junit.xml <<'XML'
            <?xml version="1.0" encoding="UTF-8"?>
            <testsuite name="unit" tests="2">
              <testcase classname="math" name="adds" time="0.5" file="math.test.js"/>
              <testcase classname="math" name="divides" time="0.25"><failure message="expected 2">got 3</failure></testcase>
            </testsuite>
            XML
      - store_artifacts:
          path: out
      - store_test_results:
          path: test-results
  gate:
    type: no-op
workflows:
  main:
    jobs:
      - build:
          context: [${CONTEXT}]
      - gate:
          requires: [build]
  approve:
    jobs:
      - hold:
          type: approval
      - gate:
          name: after-hold
          requires: [hold]
  side:
    jobs:
      - wait:
          type: approval
      - gate:
          name: after-wait
          requires: [wait]
`;

// A setup pipeline that needs no builder (the test continues it with its key), triggered by a
// git tag: its workflows' `tag` is the API's setup marker, never the git tag.
const SETUP_TAG = "v1.0.0";
const SETUP_CONFIG = `version: 2.1
setup: true
workflows:
  setup:
    jobs:
      - generate:
          type: approval
          filters: { tags: { only: /.*/ } }
`;
const CONTINUATION = `version: 2.1
workflows:
  continued:
    jobs:
      - later:
          type: approval
          filters: { tags: { only: /.*/ } }
`;

/** What the calls learn from each other; placeholders until the call that learns it ran. */
const state = {
  userId: NO_SUCH_ID,
  pipelineId: NO_SUCH_ID,
  pipelineNumber: 0,
  workflows: {} as Record<string, { id: string; jobs: Record<string, Record<string, unknown>> }>,
  buildNumber: 0,
  fingerprint: "",
  contextId: NO_SUCH_ID,
  setupPipelineId: NO_SUCH_ID,
  pushPipelineId: NO_SUCH_ID,
  brokenPipelineId: NO_SUCH_ID,
  scheduleId: NO_SUCH_ID,
};
const workflow = (name: string) => state.workflows[name]?.id ?? NO_SUCH_ID;
const jobOf = (workflowName: string, job: string) => state.workflows[workflowName]?.jobs[job] ?? {};

// ---------------------------------------------------------------------------------------------
// The calls

type Params = Record<string, string | number>;
type Body = Record<string, unknown>;

interface ErrorCase {
  what: string;
  params?: Params;
  query?: Record<string, string>;
  /** A string is sent as it is (a malformed body). */
  body?: unknown;
  token?: false;
  status: number;
}

interface Call {
  op: string;
  /** Told apart in the test's name when an operation is called more than once. */
  label?: string;
  before?: () => Promise<void>;
  params?: () => Params;
  query?: () => Record<string, string>;
  body?: () => unknown;
  /** Sent without a token (`POST /pipeline/continue` is authenticated by its key). */
  token?: false;
  /** Checks that the data is what the call means to show, and remembers what later calls need. */
  after?: (body: Body) => void;
  /** A list that may be empty (otherwise an empty `items` fails: there would be no item to check). */
  empty?: true;
  /** Error answers to check instead of the usual ones (see `usualErrors`). */
  errors?: ErrorCase[];
}

/** An insights call about the project's `main` workflow and its `build` job. */
const insight = (op: string, before?: () => Promise<void>): Call => ({
  op,
  ...(before ? { before } : {}),
  params: () => ({ "project-slug": SLUG, "org-slug": ORG, "workflow-name": "main", "job-name": "build" }),
});

/** Insights read the run records Finalize writes just after the workflow's last job ends. */
const runRecorded = async () => {
  await waitFor("the main workflow's run to be recorded", async () => {
    const runs = await send("GET", `/api/v2/insights/${SLUG}/workflows/main`);
    return (runs.body.items as Body[] | undefined)?.length ? true : undefined;
  });
};

/** Every operation at least once, in an order where each finds what it needs. */
const CALLS: Call[] = [
  {
    op: "getCurrentUser",
    after: (b) => {
      state.userId = b.id as string;
    },
  },
  { op: "getCollaborations" },
  { op: "getUser", params: () => ({ id: state.userId }) },

  { op: "getProjectBySlug", params: () => ({ "project-slug": SLUG }) },
  {
    op: "getProjectBySlug",
    label: "slug URL-escaped",
    params: () => ({ "project-slug": SLUG.replaceAll("/", "%2F") }),
  },
  {
    op: "getProjectBySlug",
    label: "a project on a local path",
    params: () => ({ "project-slug": localSlug }),
    errors: [{ what: "a malformed slug", params: { "project-slug": "xx/acme/contract" }, status: 400 }],
  },

  {
    op: "createEnvVar",
    params: () => ({ "project-slug": SLUG }),
    body: () => ({ name: "TEMP", value: "v" }),
  },
  { op: "listEnvVars", params: () => ({ "project-slug": SLUG }) },
  { op: "getEnvVar", params: () => ({ "project-slug": SLUG, name: "TEMP" }) },
  { op: "deleteEnvVar", params: () => ({ "project-slug": SLUG, name: "TEMP" }) },

  {
    op: "createCheckoutKey",
    params: () => ({ "project-slug": SLUG }),
    body: () => ({ type: "deploy-key" }),
    after: (b) => {
      state.fingerprint = b.fingerprint as string;
    },
  },
  { op: "listCheckoutKeys", params: () => ({ "project-slug": SLUG }) },
  { op: "getCheckoutKey", params: () => ({ "project-slug": SLUG, fingerprint: state.fingerprint }) },
  { op: "deleteCheckoutKey", params: () => ({ "project-slug": SLUG, fingerprint: state.fingerprint }) },

  {
    op: "createContext",
    body: () => ({ name: "contract-temp", owner: { slug: ORG, type: "organization" } }),
    after: (b) => {
      state.contextId = b.id as string;
    },
  },
  {
    op: "listContexts",
    query: () => ({ "owner-slug": ORG, "owner-type": "organization" }),
    errors: [{ what: "no owner", query: {}, status: 400 }],
  },
  { op: "getContext", params: () => ({ "context-id": state.contextId }) },
  {
    op: "addEnvironmentVariableToContext",
    params: () => ({ "context-id": state.contextId, "env-var-name": "TEMP" }),
    body: () => ({ value: "v" }),
  },
  { op: "listEnvironmentVariablesFromContext", params: () => ({ "context-id": state.contextId }) },
  {
    op: "deleteEnvironmentVariableFromContext",
    params: () => ({ "context-id": state.contextId, "env-var-name": "TEMP" }),
  },
  { op: "deleteContext", params: () => ({ "context-id": state.contextId }) },

  {
    op: "triggerPipeline",
    params: () => ({ "project-slug": SETUP_SLUG }),
    body: () => ({ tag: SETUP_TAG }),
    after: (b) => {
      state.setupPipelineId = b.id as string;
    },
  },
  {
    op: "listPipelinesForProject",
    params: () => ({ "project-slug": SLUG }),
    errors: [
      { what: "unknown project", params: { "project-slug": "gh/acme/no-such-project" }, status: 404 },
      { what: "a page token it did not issue", query: { "page-token": "not-a-token" }, status: 400 },
    ],
  },
  { op: "listMyPipelines", params: () => ({ "project-slug": SLUG }) },
  {
    op: "getPipelineByNumber",
    params: () => ({ "project-slug": SLUG, "pipeline-number": state.pipelineNumber }),
  },
  { op: "listPipelines", query: () => ({ "org-slug": ORG }) },
  {
    op: "getPipelineById",
    params: () => ({ "pipeline-id": state.pipelineId }),
    after: (b) => expect(b.trigger_parameters).toMatchObject({ target: "staging" }),
  },
  {
    op: "getPipelineById",
    label: "a push's",
    params: () => ({ "pipeline-id": state.pushPipelineId }),
    after: (b) =>
      expect(b).toMatchObject({ trigger: { type: "webhook" }, vcs: { commit: expect.any(Object) } }),
  },
  {
    op: "getPipelineById",
    label: "an errored pipeline",
    before: async () => {
      await waitFor("the broken pipeline to error", async () => {
        const p = await send("GET", `/api/v2/pipeline/${state.brokenPipelineId}`);
        return p.body.state === "errored" ? true : undefined;
      });
    },
    params: () => ({ "pipeline-id": state.brokenPipelineId }),
    after: (b) => expect(b.errors).not.toEqual([]),
  },
  { op: "getPipelineConfigById", params: () => ({ "pipeline-id": state.pipelineId }) },
  {
    op: "listWorkflowsByPipelineId",
    label: "a push's",
    params: () => ({ "pipeline-id": state.pushPipelineId }),
  },
  { op: "listWorkflowsByPipelineId", params: () => ({ "pipeline-id": state.pipelineId }) },

  { op: "getWorkflowById", params: () => ({ id: workflow("main") }) },
  { op: "getWorkflowById", label: "on hold", params: () => ({ id: workflow("approve") }) },
  { op: "listWorkflowJobs", params: () => ({ id: workflow("main") }) },
  { op: "listWorkflowJobs", label: "an approval on hold", params: () => ({ id: workflow("approve") }) },
  {
    op: "getJobDetails",
    params: () => ({ "project-slug": SLUG, "job-number": state.buildNumber }),
    errors: [
      { what: "unknown job", params: { "project-slug": SLUG, "job-number": 999_999 }, status: 404 },
      {
        what: "a job number that is not one",
        params: { "project-slug": SLUG, "job-number": "x" },
        status: 400,
      },
    ],
  },
  {
    op: "getJobDetails",
    label: "a no-op job",
    params: () => ({ "project-slug": SLUG, "job-number": jobOf("main", "gate").job_number as number }),
  },
  { op: "getJobArtifacts", params: () => ({ "project-slug": SLUG, "job-number": state.buildNumber }) },
  { op: "getTests", params: () => ({ "project-slug": SLUG, "job-number": state.buildNumber }) },

  {
    op: "continuePipeline",
    token: false,
    before: async () => {
      await waitFor("the setup pipeline to be compiled", async () => {
        const p = await send("GET", `/api/v2/pipeline/${state.setupPipelineId}`);
        return p.body.state === "setup" ? true : undefined;
      });
    },
    body: async () => ({
      "continuation-key": await continuationKey(runtime.gyre, state.setupPipelineId),
      configuration: CONTINUATION,
    }),
    errors: [
      { what: "a malformed body", body: "{nope", status: 400, token: false },
      {
        what: "a wrong key",
        body: { "continuation-key": `${NO_SUCH_ID}.x`, configuration: CONTINUATION },
        status: 401,
        token: false,
      },
    ],
  },
  {
    op: "listWorkflowsByPipelineId",
    label: "a setup pipeline, continued",
    params: () => ({ "pipeline-id": state.setupPipelineId }),
    after: (b) => expect((b.items as Body[]).map((w) => w.name).sort()).toEqual(["continued", "setup"]),
  },
  {
    op: "getPipelineById",
    label: "a setup pipeline",
    params: () => ({ "pipeline-id": state.setupPipelineId }),
  },

  insight("getProjectWorkflowsPageData", runRecorded),
  insight("getWorkflowTimeseries"),
  insight("getJobTimeseries"),
  insight("getOrgSummaryData"),
  insight("getAllInsightsBranches"),
  insight("getFlakyTests"),
  insight("getProjectWorkflowMetrics"),
  insight("getProjectWorkflowRuns"),
  insight("getProjectWorkflowJobMetrics"),
  insight("getProjectJobRuns"),
  insight("getWorkflowSummary"),
  insight("getProjectWorkflowTestMetrics"),

  {
    op: "createSchedule",
    params: () => ({ "project-slug": SLUG }),
    body: () => ({
      name: "nightly",
      description: "Every night",
      "attribution-actor": "current",
      parameters: { branch: "main" },
      timetable: { "per-hour": 1, "hours-of-day": [3], "days-of-week": ["MON", "TUE"] },
    }),
    after: (b) => {
      state.scheduleId = b.id as string;
    },
  },
  { op: "listSchedulesForProject", params: () => ({ "project-slug": SLUG }) },
  { op: "getScheduleById", params: () => ({ "schedule-id": state.scheduleId }) },
  {
    op: "updateSchedule",
    params: () => ({ "schedule-id": state.scheduleId }),
    body: () => ({ description: "Every night, changed" }),
  },
  { op: "deleteScheduleById", params: () => ({ "schedule-id": state.scheduleId }) },

  {
    op: "approvePendingApprovalJobById",
    params: () => ({ id: workflow("approve"), approval_request_id: jobOf("approve", "hold").id as string }),
  },
  {
    op: "cancelJob",
    params: () => ({ "project-slug": SLUG, "job-number": jobOf("side", "after-wait").job_number as number }),
  },
  { op: "cancelWorkflow", params: () => ({ id: workflow("side") }) },
  { op: "rerunWorkflow", params: () => ({ id: workflow("side") }), body: () => ({}) },
];

/** What a path parameter becomes in a request for something that does not exist. */
const MISSING: Record<string, string | number> = {
  "project-slug": "gh/acme/no-such-project",
  "org-slug": "gh/no-such-org",
  "pipeline-id": NO_SUCH_ID,
  "context-id": NO_SUCH_ID,
  "schedule-id": NO_SUCH_ID,
  id: NO_SUCH_ID,
  approval_request_id: NO_SUCH_ID,
  "job-number": 999_999,
  "pipeline-number": 999_999,
  name: "NO_SUCH_VARIABLE",
  "env-var-name": "NO_SUCH_VARIABLE",
  fingerprint: "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff",
  "workflow-name": "no-such-workflow",
  "job-name": "no-such-job",
};

/**
 * Unless a call says otherwise: every parameter naming something that does not exist answers
 * 404, a body that is not JSON answers 400, and a request without a token answers 401.
 */
function usualErrors(op: Operation, call: Call): ErrorCase[] {
  const cases: ErrorCase[] = [];
  if (op.params.length > 0)
    cases.push({
      what: "nothing by those names",
      params: Object.fromEntries(op.params.map((p) => [p, MISSING[p]!])),
      status: 404,
    });
  if (op.requestBody) cases.push({ what: "a malformed body", body: "{nope", status: 400 });
  if (call.token !== false) cases.push({ what: "no token", token: false, status: 401 });
  return cases;
}

// ---------------------------------------------------------------------------------------------
// The runtime

let runtime: LocalRuntime;
let localSlug = "";

async function send(
  method: string,
  path: string,
  options: { body?: unknown; token?: false } = {},
): Promise<{ status: number; contentType: string; body: Body }> {
  const { body, token } = options;
  const response = await fetch(`${runtime.url}${path}`, {
    method,
    headers: {
      ...(token === false ? {} : { "circle-token": runtime.adminToken }),
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {}
  return {
    status: response.status,
    contentType: response.headers.get("content-type") ?? "",
    body: json as Body,
  };
}

async function addProject(slug: string | undefined, config: string, tag?: string) {
  const repo = gitRepo({ ".circleci/config.yml": config });
  if (tag) execFileSync("git", ["tag", tag], { cwd: repo.path });
  const created = await send("POST", "/api/gyre/projects", {
    body: { repo_url: repo.path, ...(slug ? { slug } : {}) },
  });
  if (created.status !== 201) throw new Error(`project: ${created.status} ${JSON.stringify(created.body)}`);
  return {
    slug: created.body.slug as string,
    secret: created.body.webhook_secret as string,
    head: repo.head,
  };
}

/** A signed GitHub push of the project's head commit; the pipeline it made. */
async function push(slug: string, project: { secret: string; head: string }): Promise<string> {
  const body = pushPayload(slug.slice("gh/".length), project.head);
  const delivered = await fetch(`${runtime.url}/webhooks/github`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-github-event": "push",
      "x-github-delivery": `contract-${randomUUID()}`,
      "x-hub-signature-256": sign(project.secret, body),
    },
    body,
  });
  if (delivered.status !== 202) throw new Error(`push: ${delivered.status} ${await delivered.text()}`);
  return waitFor("the push's pipeline", async () => {
    const items = (await send("GET", `/api/v2/project/${slug}/pipeline`)).body.items as Body[] | undefined;
    const pipeline = items?.find((p) => (p.trigger as Body).type === "webhook");
    return pipeline && pipeline.state !== "pending" ? (pipeline.id as string) : undefined;
  });
}

beforeAll(async () => {
  runtime = await startLocalRuntime({ dataDir: tempDir("contract"), port: 0, agents: 1 });
  await addProject(SLUG, CONFIG);
  const setup = await addProject(SETUP_SLUG, SETUP_CONFIG, SETUP_TAG);
  localSlug = (await addProject(undefined, "version: 2.1\n")).slug;
  await addProject(BROKEN_SLUG, "version: 2.1\nworkflows:\n  w:\n    jobs: [missing]\n");
  const context = await send("POST", "/api/v2/context", {
    body: { name: CONTEXT, owner: { slug: ORG, type: "organization" } },
  });
  await send("PUT", `/api/v2/context/${context.body.id}/environment-variable/SECRET`, {
    body: { value: "s" },
  });
  await send("POST", `/api/v2/project/${SLUG}/envvar`, { body: { name: "PROJECT_VAR", value: "p" } });
  await send("POST", `/api/v2/project/${SLUG}/checkout-key`, { body: { type: "deploy-key" } });

  // The pipeline that ran: `main` to success, `approve` and `side` waiting for a person.
  const created = await send("POST", `/api/v2/project/${SLUG}/pipeline`, {
    body: { branch: "main", parameters: { target: "staging" } },
  });
  state.pipelineId = created.body.id as string;
  state.pipelineNumber = created.body.number as number;
  // A push's pipeline (a webhook trigger, with the commit's message) and one whose config is wrong.
  state.pushPipelineId = await push(SETUP_SLUG, setup);
  const broken = await send("POST", `/api/v2/project/${BROKEN_SLUG}/pipeline`, { body: { branch: "main" } });
  state.brokenPipelineId = broken.body.id as string;
  const settled = await waitFor(
    "the pipeline's workflows to settle",
    async () => {
      const pipeline = (await send("GET", `/api/v2/pipeline/${state.pipelineId}`)).body;
      if (pipeline.state === "errored") throw new Error(`The pipeline errored: ${JSON.stringify(pipeline)}`);
      const items = (await send("GET", `/api/v2/pipeline/${state.pipelineId}/workflow`)).body.items as Body[];
      const status = Object.fromEntries((items ?? []).map((w) => [w.name, w.status]));
      return status.main === "success" && status.approve === "on_hold" && status.side === "on_hold"
        ? items
        : undefined;
    },
    60_000,
  );
  for (const w of settled) {
    const jobs = (await send("GET", `/api/v2/workflow/${w.id}/job`)).body.items as Body[];
    state.workflows[w.name as string] = {
      id: w.id as string,
      jobs: Object.fromEntries(jobs.map((j) => [j.name as string, j])),
    };
  }
  state.buildNumber = jobOf("main", "build").job_number as number;
}, 90_000);

afterAll(async () => {
  await runtime?.stop();
});

// ---------------------------------------------------------------------------------------------
// The walk

const fill = (path: string, params: Params) =>
  path.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`no value for {${name}} in ${path}`);
    return String(value);
  });
const withQuery = (path: string, query?: Record<string, string>) =>
  query && Object.keys(query).length > 0 ? `${path}?${new URLSearchParams(query)}` : path;

/** operationId → whether Gyre implements it, as its answers said. */
const implemented = new Map<string, boolean>();

describe("CircleCI API v2, walked from its OpenAPI document", () => {
  it("has a call for every operation in the document, and none for another", () => {
    const called = new Set(CALLS.map((c) => c.op));
    expect(operations.filter((o) => !called.has(o.id)).map((o) => o.id)).toEqual([]);
    expect([...called].filter((id) => !operation.has(id))).toEqual([]);
    expect(NOT_IMPLEMENTED.filter((id) => !operation.has(id))).toEqual([]);
  });

  it("reads the document as OpenAPI 3.0 means it: `x-nullable` as `nullable`, `$ref`s into it", () => {
    const me = validatorFor({ $ref: "#/paths/~1me/get/responses/200/content/application~1json/schema" });
    expect(me({ id: NO_SUCH_ID, login: "admin", name: "Admin" })).toBe(true);
    expect(me({ id: "admin", login: "admin", name: "Admin" })).toBe(false);
    const workflowSchema = responseSchema(operation.get("getWorkflowById")!, "200");
    const w = { id: NO_SUCH_ID, name: "w", status: "success", created_at: "2024-01-01T00:00:00Z" };
    const full = {
      ...w,
      pipeline_id: NO_SUCH_ID,
      pipeline_number: 1,
      project_slug: "gh/a/b",
      started_by: NO_SUCH_ID,
    };
    expect(validatorFor(workflowSchema)({ ...full, stopped_at: null })).toBe(true);
    expect(validatorFor(workflowSchema)({ ...full, stopped_at: 7 })).toBe(false);
  });

  for (const call of CALLS) {
    const op = operation.get(call.op);
    if (!op) continue;
    const name = `${op.id}: ${op.method} ${op.path}${call.label ? ` (${call.label})` : ""}`;
    it(name, async (ctx) => {
      await call.before?.();
      const params = call.params?.() ?? {};
      const path = `/api/v2${fill(op.path, params)}`;
      const url = withQuery(path, call.query?.());
      const body = await call.body?.();
      if (op.requestBody && body !== undefined)
        check(op.requestBody, body, `${name}: the test's request body`);
      const answer = await send(op.method, url, { body, token: call.token });
      const missing = answer.status === 404 && answer.body?.message === `Not found: ${op.method} ${path}`;
      const known = implemented.get(op.id);
      if (known !== undefined && known === missing)
        throw new Error(`${name}: implemented by one call and not by another (${url})`);
      implemented.set(op.id, !missing);
      if (missing) {
        ctx.skip(`not implemented: ${op.method} ${url} answered the router's 404`);
        return;
      }
      const what = `${name} (${op.method} ${url}) answered ${answer.status}`;
      if (String(answer.status) !== op.success)
        throw new Error(`${what}, the document gives ${op.success}: ${JSON.stringify(answer.body)}`);
      expect(answer.contentType, `${what}: its content type`).toMatch(/^application\/json/);
      check(responseSchema(op, op.success), answer.body, what);
      if (Array.isArray(answer.body.items) && answer.body.items.length === 0 && !call.empty)
        throw new Error(`${what} with no items: the walk needs some, to check their shape`);
      call.after?.(answer.body);

      for (const error of call.errors ?? usualErrors(op, call)) {
        const errorPath = `/api/v2${fill(op.path, error.params ?? params)}`;
        const errorUrl = withQuery(errorPath, error.query ?? (error.params ? undefined : call.query?.()));
        const errorBody = error.body ?? (op.requestBody ? body : undefined);
        const got = await send(op.method, errorUrl, { body: errorBody, token: error.token });
        const about = `${name}, ${error.what} (${op.method} ${errorUrl}) answered ${got.status}`;
        if (got.status !== error.status)
          throw new Error(`${about}, expected ${error.status}: ${JSON.stringify(got.body)}`);
        check(responseSchema(op, "default"), got.body, about);
        // The document's error schema does not require `message`; clients read it all the same.
        expect(got.body.message, `${about}: its message`).toEqual(expect.any(String));
      }
    });
  }

  it("lists exactly the operations it does not implement", () => {
    const missing = operations.filter((o) => implemented.get(o.id) === false).map((o) => o.id);
    expect(operations.filter((o) => !implemented.has(o.id)).map((o) => o.id)).toEqual([]);
    expect(missing.sort()).toEqual([...NOT_IMPLEMENTED].sort());
  });
});
