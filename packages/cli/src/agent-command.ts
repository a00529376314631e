/**
 * `gyre agent --server URL --token T`: this machine joins a running Gyre as a builder node. The
 * join token (the local runtime's `builder-token`, or a builder token on AWS) is all it needs:
 * the server says which queue each resource class uses (`GET /agent/v1/queues`), and the agent
 * registers, offers the classes that fit this host and runs their jobs until it gets SIGTERM
 * (drain, then leave) or SIGINT (stop).
 */
import { Client } from "./client.ts";

export interface AgentOptions {
  server?: string;
  token?: string;
  /** Offer only these classes (comma-separated); default every class the server has a queue for. */
  classes?: string;
  "work-dir"?: string;
  name?: string;
}

interface QueuesAnswer {
  queues: Record<string, string>;
  sqs_endpoint: string | null;
  region: string;
}

/** The agent's environment for joining `server` with `token` (what `gyre agent` runs with). */
export async function agentEnvironment(
  options: AgentOptions,
  env = process.env,
): Promise<Record<string, string>> {
  const server = (options.server ?? env.GYRE_URL)?.replace(/\/+$/, "");
  const token = options.token ?? env.GYRE_AGENT_TOKEN;
  if (!server) throw new Error("gyre agent needs --server <Gyre's URL> (or GYRE_URL).");
  if (!token)
    throw new Error("gyre agent needs --token <join token> (or GYRE_AGENT_TOKEN): the builder token.");
  const answer = await new Client(server, token).get<QueuesAnswer>("/agent/v1/queues");
  let queues = Object.entries(answer.queues);
  if (options.classes) {
    const wanted = options.classes.split(",").map((c) => c.trim());
    const unknown = wanted.filter((c) => !answer.queues[c]);
    if (unknown.length)
      throw new Error(
        `No queue for resource class ${unknown.join(", ")}: the server has ${Object.keys(answer.queues).join(", ")}.`,
      );
    queues = queues.filter(([name]) => wanted.includes(name));
  }
  return {
    GYRE_URL: server,
    GYRE_AGENT_TOKEN: token,
    GYRE_QUEUES: queues.map(([name, url]) => `${name}=${url}`).join(","),
    AWS_REGION: env.AWS_REGION ?? answer.region,
    ...(options["work-dir"] ? { GYRE_WORK_DIR: options["work-dir"] } : {}),
    ...(options.name ? { GYRE_NODE_NAME: options.name } : {}),
    // A local Gyre's queues are its SQS stand-in, which takes any key (it checks none).
    ...(answer.sqs_endpoint
      ? {
          GYRE_SQS_ENDPOINT: answer.sqs_endpoint,
          AWS_ACCESS_KEY_ID: env.AWS_ACCESS_KEY_ID ?? "local",
          AWS_SECRET_ACCESS_KEY: env.AWS_SECRET_ACCESS_KEY ?? "local",
        }
      : {}),
  };
}
