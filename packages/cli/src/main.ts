/**
 * `gyre`: the local server and the commands that talk to a Gyre API.
 *
 *   gyre start [--port P] [--data-dir D] [--agents N] [--no-demo] [--tls-cert PEM --tls-key PEM]
 *   gyre agent --server URL --token T [--classes C,...] [--work-dir D] [--name N]
 *   gyre project add <git url or local path> [--slug gh/org/repo] [--default-branch B] [--json]
 *   gyre trigger <project> [--branch B | --tag T]
 *   gyre status [<project>]
 *   gyre logs <project>/<job number>
 *   gyre orb publish <namespace/orb>@<version> <file>
 *   gyre config validate [file]
 *   gyre config process [file] [--json]
 *   gyre nomad node status [-json] [<node>]
 *   gyre nomad node drain -enable|-disable [-deadline 1h | -no-deadline] [-detach] [-json] <node>
 *   gyre nomad node eligibility -enable|-disable [-json] <node>
 *   gyre nomad status|job status [-json] [<job>], alloc status [-json] <alloc>, alloc logs|logs ... <alloc>
 *   gyre doctor [<project slug>/<job number> | <job id>] [--json]
 *   gyre usage [--week 2026-W48 | --week this] [--json | --csv [--report account_usage|job_activity|active_users]]
 *   gyre audit list [--action A] [--actor X] [--target T] [--from T] [--to T] [--json], export --from T --to T [--csv] [--out F]
 *   gyre github resync <project slug> [--json]
 *   gyre workflow approve|cancel|rerun ..., gyre ssh-key add|list|remove ...
 *   gyre token create|list|revoke ..., gyre user list|show|suspend|activate|role|delete ...
 *   gyre settings get|set|ldap-test ..., gyre project token create|list|delete ...
 *   gyre admin bootstrap [--login admin] [--name N] [--force] [--json]   (against the table, no API)
 *   gyre backup [--data-dir D] [--out F [--force]] [--include-key] | --aws, gyre restore <archive> --data-dir D [--keep-tokens] | --aws ...
 *   gyre build delete <url or project/number>
 */
import { execFileSync } from "node:child_process";
import { cpSync, existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  adminBootstrap,
  projectTokenCommand,
  settingsCommand,
  tokenCommand,
  userCommand,
} from "./account-commands.ts";
import { agentEnvironment } from "./agent-command.ts";
import { auditCommand } from "./audit-command.ts";
import { backupCommand, restoreCommand } from "./backup-command.ts";
import { buildDelete } from "./build-command.ts";
import { ApiError, Client, DEFAULT_DATA_DIR, DEFAULT_URL } from "./client.ts";
import { logs, projectAdd, status, trigger } from "./commands.ts";
import { configProcess, configValidate, DEFAULT_CONFIG_PATH, orbPublish } from "./config-commands.ts";
import { doctorCommand } from "./doctor-command.ts";
import { githubResync } from "./github-command.ts";
import {
  allocLogs,
  allocStatus,
  jobStatus,
  nodeDrain,
  nodeEligibility,
  nodeStatus,
  nomadFlags,
} from "./nomad-commands.ts";
import { usageCommand } from "./usage-command.ts";
import { sshKeyCommand, workflowApprove, workflowCancel, workflowRerun } from "./workflow-commands.ts";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
process.env.AWS_EC2_METADATA_DISABLED ??= "true";

const EXAMPLES = resolve(dirname(fileURLToPath(import.meta.url)), "../../../examples");
export const DEMO_SLUG = "local/examples/demo";

const USAGE = `Usage:
  gyre start [--port 8080] [--data-dir .gyre] [--agents 1] [--no-demo] [--tls-cert cert.pem --tls-key key.pem]
  gyre agent --server <url> --token <join token> [--classes small,medium] [--work-dir D] [--name N]
  gyre project add <git url or local path> [--slug gh/org/repo] [--default-branch main] [--json]
  gyre trigger <project slug> [--branch B | --tag T]
  gyre status [<project slug>]
  gyre logs <project slug>/<job number>
  gyre orb publish <namespace/orb>@<version> <orb.yml>
  gyre config validate [.circleci/config.yml]
  gyre config process [.circleci/config.yml] [--json]
  gyre nomad node status [-json] [<node id or prefix>]
  gyre nomad node drain -enable|-disable [-deadline 1h | -no-deadline] [-detach] [-json] <node>
  gyre nomad node eligibility -enable|-disable [-json] <node>
  gyre nomad status [-json] [<job id or prefix>]     (also: gyre nomad job status ...)
  gyre nomad alloc status [-json] <alloc id or prefix>
  gyre nomad alloc logs [-stderr] [-f] [-tail [-n 10 | -c bytes]] <alloc id or prefix>
  gyre nomad logs -job [-stderr] [-f] [-tail] <job id>
  gyre doctor [<project slug>/<job number> | <job id>] [--json]
  gyre usage [--week 2026-W48 | --week this] [--json | --csv [--report account_usage|job_activity|active_users]]
      (default: the last full week, Monday to Sunday UTC; this: the week under way so far)
  gyre audit list [--action A | --action user.] [--actor X] [--target T] [--from T] [--to T] [--limit 50] [--json]
  gyre audit export --from T --to T [--csv] [--out file] [--action A] [--actor X] [--target T]
  gyre github resync <project slug> [--json]   (build the pushes GitHub delivered while Gyre was down)
  gyre workflow approve <workflow id> <approval job name or id>
  gyre workflow cancel <workflow id>
  gyre workflow rerun <workflow id> [--from-failed | --job <name> ... [--ssh]]
  gyre ssh-key add <public key file> | list | remove <fingerprint>
  gyre token create <label> [--operator] [--json] | list [--json] | revoke <token id>
  gyre user list [--state active|inactive|suspended|suspended-new] [--json]
  gyre user show|suspend|activate <login or id>
  gyre user role <login or id> admin|normal
  gyre user delete <login or id> --yes
  gyre settings get [<name>] [--json]
  gyre settings set <name>=<value> ...   (JSON values, a,b for a list; ldap=@ldap.json merges; ldap.host=...)
  gyre settings ldap-test <username>     (password from GYRE_LDAP_TEST_PASSWORD or stdin)
  gyre project token create <project slug> <label> --scope status|view-builds|all [--json]
  gyre project token list <project slug> [--json] | delete <project slug> <token id>
  gyre admin bootstrap [--login admin] [--name N] [--force] [--json]
      (the first administrator, straight in the table: npx sst shell --stage prod -- npx gyre admin bootstrap)
  gyre backup [--data-dir .gyre] [--out gyre-backup-<time>.tar.gz [--force]] [--include-key] [--json]
      (while Gyre runs, or not; the master key goes in only with --include-key; --force replaces an --out file)
  gyre restore <archive> --data-dir <fresh dir> [--key <master.key>] [--force] [--keep-tokens] [--json]
      (the backup's tokens and sessions are dropped unless --keep-tokens)
  gyre backup --aws [--out <manifest.json> [--force]]   (npx sst shell --stage prod -- npx gyre backup --aws)
  gyre restore --aws --backup-arn <arn> --manifest <file or s3://...> --stage <new stage> [--keep-tokens] [--json]
  gyre restore --aws --point-in-time <ISO time, e.g. 2026-03-01T11:45:00Z> --stage <new stage> [--keep-tokens] [--json]
      (the stage's table and bucket as they were then, within 35 days: npx sst shell --stage prod -- npx gyre restore --aws ...)
  gyre build delete <build URL or project slug/job number> [--json]

GYRE_URL and GYRE_TOKEN select the server (default: the local one and .gyre/admin-token).`;

const print = (line: string) => console.log(line);

// Output piped into a reader that stops early (`gyre status | head`): stop quietly, as Unix tools do.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(0);
  throw error;
});

/** A git repository made from examples/demo, once, inside the data directory. */
export function demoRepository(dataDir: string): string {
  const repo = join(dataDir, "examples", "demo");
  if (existsSync(join(repo, ".git"))) return repo;
  cpSync(join(EXAMPLES, "demo"), repo, { recursive: true });
  const git = (...args: string[]) => execFileSync("git", args, { cwd: repo, stdio: "ignore" });
  git("init", "-q", "-b", "main");
  git("add", "-A");
  git("-c", "user.name=Gyre", "-c", "user.email=gyre@localhost", "commit", "-q", "-m", "Demo project");
  return repo;
}

async function start(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: "string", default: "8080" },
      "data-dir": { type: "string", default: DEFAULT_DATA_DIR },
      agents: { type: "string", default: "1" },
      "no-demo": { type: "boolean" },
      // HTTPS (local/tls.ts): a certificate naming 127.0.0.1 or localhost, and its key.
      "tls-cert": { type: "string" },
      "tls-key": { type: "string" },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`Invalid --port ${values.port}.`);
  const agents = Number(values.agents);
  if (!Number.isInteger(agents) || agents < 0 || agents > 64)
    throw new Error(`Invalid --agents ${values.agents}: a number of builder nodes from 0 to 64.`);
  const { startLocalRuntime } = await import("./local/runtime.ts");
  // The web app, built when its sources changed since the last build (a few seconds).
  const { ensureWebBuilt } = await import("@gyre/web/build");
  if (await ensureWebBuilt()) print("Built the web app (packages/web/dist).");
  const dataDir = resolve(values["data-dir"]!);
  if (Boolean(values["tls-cert"]) !== Boolean(values["tls-key"]))
    throw new Error("--tls-cert and --tls-key go together: the certificate (PEM) and its private key.");
  const { readTlsCertificate, tlsHost } = await import("./local/tls.ts");
  const tls =
    values["tls-cert"] && values["tls-key"]
      ? await readTlsCertificate(resolve(values["tls-cert"]), resolve(values["tls-key"]))
      : undefined;
  if (tls) tlsHost(tls); // refused before anything starts when it names neither 127.0.0.1 nor localhost
  const runtime = await startLocalRuntime({
    ...(tls ? { tls } : {}),
    dataDir,
    port,
    agents,
    log: (line) => console.error(`gyre: ${line}`),
  });
  const tokenFile = join(dataDir, "admin-token");
  // The admin token is kept from the first start: since then it may have been revoked, or its
  // user suspended or deleted. Gyre serves all the same; the token is not offered as working.
  const refused = (error: unknown): error is ApiError =>
    error instanceof ApiError && (error.status === 401 || error.status === 403);
  const client = new Client(runtime.url, runtime.adminToken, { ca: runtime.ca });
  let adminRefused: ApiError | undefined;
  try {
    await client.get("/api/v2/me");
  } catch (error) {
    if (!refused(error)) {
      await runtime.stop();
      throw error;
    }
    adminRefused = error;
  }
  print(`Gyre is running at ${runtime.url}`);
  print(`Data directory: ${dataDir}`);
  if (!adminRefused) print(`Admin API token: ${runtime.adminToken} (also in ${tokenFile})`);
  else
    print(
      `Admin API token: not valid (${adminRefused.message}): the admin token in ${tokenFile} no longer works ` +
        `(revoked, or its user suspended or deleted)${values["no-demo"] ? "" : ", so the demo was skipped"}. ` +
        "Use your own token with GYRE_TOKEN.",
    );
  // The CLI finds the default server and ./.gyre by itself; anything else it must be told.
  if (runtime.url !== DEFAULT_URL || dataDir !== resolve(DEFAULT_DATA_DIR))
    print(
      `For the CLI in another shell:  export GYRE_URL=${runtime.url} GYRE_DATA_DIR=${dataDir}` +
        (runtime.caFile ? ` GYRE_CA_BUNDLE=${runtime.caFile}` : ""),
    );

  if (!values["no-demo"] && !adminRefused) {
    try {
      const repo = demoRepository(dataDir);
      try {
        await projectAdd(client, repo, { slug: DEMO_SLUG }, () => {});
        print(`Demo project ${DEMO_SLUG} added from ${repo}`);
      } catch (error) {
        if (!(error instanceof ApiError && error.status === 409)) throw error;
      }
      await trigger(client, DEMO_SLUG, { branch: "main" }, (line) => print(`Demo: ${line}`));
      print(`Watch it:  npx gyre status ${DEMO_SLUG}`);
      print(`Its logs:  npx gyre logs ${DEMO_SLUG}/<job number>`);
    } catch (error) {
      // Refused now (no longer an administrator, or changed since the check): serve without it.
      if (refused(error))
        print(
          `Demo skipped: the admin token in ${tokenFile} was refused (${error.message}). Use your own token with GYRE_TOKEN.`,
        );
      else {
        await runtime.stop();
        throw error;
      }
    }
  }
  print("Press Ctrl-C to stop.");

  await new Promise<void>((resolveStop) => {
    let stopping = false;
    const stop = () => {
      if (stopping) return;
      stopping = true;
      print("Stopping Gyre...");
      runtime.stop().then(resolveStop, resolveStop);
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  // `gyre <command> --help` asks how, as `gyre --help` does: the usage, not an option error.
  if (rest.includes("--help") || rest.includes("-h")) {
    print(USAGE);
    return 0;
  }
  const client = () => Client.fromEnv();
  switch (command) {
    case "start":
      await start(rest);
      return 0;
    case "agent": {
      const { values } = parseArgs({
        args: rest,
        options: {
          server: { type: "string" },
          token: { type: "string" },
          classes: { type: "string" },
          "work-dir": { type: "string" },
          name: { type: "string" },
        },
      });
      Object.assign(process.env, await agentEnvironment(values));
      const { runAgent } = await import("@gyre/agent/main");
      runAgent();
      // The agent runs until a signal; this process exits when it is done.
      await new Promise(() => undefined);
      return 0;
    }
    case "project": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: {
          slug: { type: "string" },
          "default-branch": { type: "string" },
          scope: { type: "string" },
          json: { type: "boolean" },
        },
      });
      if (positionals[0] === "token") {
        const code = await projectTokenCommand(client(), positionals.slice(1), values, print);
        if (code !== undefined) return code;
        break;
      }
      if (positionals[0] !== "add" || !positionals[1]) break;
      await projectAdd(
        client(),
        positionals[1],
        { slug: values.slug, defaultBranch: values["default-branch"], json: values.json },
        print,
      );
      return 0;
    }
    case "trigger": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { branch: { type: "string" }, tag: { type: "string" } },
      });
      if (!positionals[0]) break;
      // An errored pipeline (invalid config, unreadable repository) fails the command.
      const created = await trigger(client(), positionals[0], values, print);
      return created.state === "errored" ? 1 : 0;
    }
    case "status": {
      const { positionals } = parseArgs({ args: rest, allowPositionals: true, options: {} });
      await status(client(), positionals[0], print);
      return 0;
    }
    case "logs": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { project: { type: "string" } },
      });
      if (!positionals[0]) break;
      await logs(client(), positionals[0], values.project, print);
      return 0;
    }
    case "orb": {
      const { positionals } = parseArgs({ args: rest, allowPositionals: true, options: {} });
      if (positionals[0] !== "publish" || !positionals[1] || !positionals[2]) break;
      await orbPublish(client(), positionals[1], positionals[2], print);
      return 0;
    }
    case "config": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { json: { type: "boolean" } },
      });
      const file = positionals[1] ?? DEFAULT_CONFIG_PATH;
      if (positionals[0] === "validate") return configValidate(client(), file, print, console.error);
      if (positionals[0] === "process") return configProcess(client(), file, values, print, console.error);
      break;
    }
    case "nomad": {
      const { values, positionals } = parseArgs({
        args: nomadFlags(rest),
        allowPositionals: true,
        options: {
          json: { type: "boolean" },
          enable: { type: "boolean" },
          disable: { type: "boolean" },
          deadline: { type: "string" },
          "no-deadline": { type: "boolean" },
          "keep-ineligible": { type: "boolean" },
          detach: { type: "boolean" },
          yes: { type: "boolean" },
          stderr: { type: "boolean" },
          stdout: { type: "boolean" },
          follow: { type: "boolean", short: "f" },
          tail: { type: "boolean" },
          n: { type: "string", short: "n" },
          c: { type: "string", short: "c" },
          job: { type: "boolean" },
        },
      });
      const [noun, verb, id] = positionals;
      const write = (text: string) => void process.stdout.write(text);
      if (noun === "status" || (noun === "job" && verb === "status")) {
        await jobStatus(client(), noun === "status" ? verb : id, values, print);
        return 0;
      }
      if (noun === "alloc" && verb === "status" && id) {
        await allocStatus(client(), id, values, print);
        return 0;
      }
      const logsOf = noun === "logs" ? verb : noun === "alloc" && verb === "logs" ? id : undefined;
      if (logsOf) {
        await allocLogs(client(), logsOf, values, write);
        return 0;
      }
      if (noun !== "node") break;
      if (verb === "status") {
        await nodeStatus(client(), id, values, print);
        return 0;
      }
      if (verb === "drain" && id) {
        await nodeDrain(client(), id, values, print);
        return 0;
      }
      if (verb === "eligibility" && id) {
        await nodeEligibility(client(), id, values, print);
        return 0;
      }
      break;
    }
    case "doctor": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { json: { type: "boolean" } },
      });
      if (positionals.length > 1) break;
      return doctorCommand(client(), positionals[0], values, print);
    }
    case "workflow": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: {
          "from-failed": { type: "boolean" },
          job: { type: "string", multiple: true },
          ssh: { type: "boolean" },
        },
      });
      const [action, id, ref] = positionals;
      if (action === "approve" && id && ref) return workflowApprove(client(), id, ref, print).then(() => 0);
      if (action === "cancel" && id && !ref) return workflowCancel(client(), id, print).then(() => 0);
      if (action === "rerun" && id && !ref) {
        const options = { fromFailed: values["from-failed"], jobs: values.job, ssh: values.ssh };
        return workflowRerun(client(), id, options, print).then(() => 0);
      }
      break;
    }
    case "ssh-key": {
      const { positionals } = parseArgs({ args: rest, allowPositionals: true, options: {} });
      if (positionals.length <= 2 && (await sshKeyCommand(client(), positionals[0], positionals[1], print)))
        return 0;
      break;
    }
    case "github": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { json: { type: "boolean" } },
      });
      if (positionals[0] !== "resync" || !positionals[1] || positionals.length > 2) break;
      await githubResync(client(), positionals[1], values, print);
      return 0;
    }
    case "token": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { operator: { type: "boolean" }, json: { type: "boolean" } },
      });
      const code = await tokenCommand(client(), positionals, values, print);
      if (code !== undefined) return code;
      break;
    }
    case "user": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { state: { type: "string" }, json: { type: "boolean" }, yes: { type: "boolean" } },
      });
      const code = await userCommand(client(), positionals, values, print);
      if (code !== undefined) return code;
      break;
    }
    case "settings": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { json: { type: "boolean" } },
      });
      const code = await settingsCommand(client(), positionals, values, print);
      if (code !== undefined) return code;
      break;
    }
    case "audit": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: {
          action: { type: "string" },
          actor: { type: "string" },
          target: { type: "string" },
          from: { type: "string" },
          to: { type: "string" },
          limit: { type: "string" },
          json: { type: "boolean" },
          csv: { type: "boolean" },
          out: { type: "string" },
        },
      });
      const write = (text: string) => void process.stdout.write(text);
      const code = await auditCommand(client(), positionals, values, print, write);
      if (code !== undefined) return code;
      break;
    }
    case "usage": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: {
          week: { type: "string" },
          json: { type: "boolean" },
          csv: { type: "boolean" },
          report: { type: "string" },
        },
      });
      if (positionals.length > 0) break;
      return usageCommand(client(), values, print, (text) => void process.stdout.write(text));
    }
    case "admin": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: {
          login: { type: "string" },
          name: { type: "string" },
          force: { type: "boolean" },
          json: { type: "boolean" },
        },
      });
      if (positionals.length !== 1 || positionals[0] !== "bootstrap") break;
      return adminBootstrap(values, print);
    }
    case "backup": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: {
          "data-dir": { type: "string" },
          out: { type: "string" },
          force: { type: "boolean" },
          "include-key": { type: "boolean" },
          aws: { type: "boolean" },
          json: { type: "boolean" },
        },
      });
      if (positionals.length > 0) break;
      return backupCommand(
        { ...values, dataDir: values["data-dir"], includeKey: values["include-key"] },
        print,
      );
    }
    case "restore": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: {
          "data-dir": { type: "string" },
          key: { type: "string" },
          force: { type: "boolean" },
          "keep-tokens": { type: "boolean" },
          aws: { type: "boolean" },
          "backup-arn": { type: "string" },
          manifest: { type: "string" },
          "point-in-time": { type: "string" },
          stage: { type: "string" },
          json: { type: "boolean" },
        },
      });
      if (positionals.length > (values.aws ? 0 : 1)) break;
      return restoreCommand(
        positionals[0],
        {
          ...values,
          dataDir: values["data-dir"],
          backupArn: values["backup-arn"],
          pointInTime: values["point-in-time"],
          keepTokens: values["keep-tokens"],
        },
        print,
      );
    }
    case "build": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { json: { type: "boolean" } },
      });
      if (positionals[0] !== "delete" || positionals.length !== 2) break;
      return buildDelete(client(), positionals[1]!, values, print);
    }
    case "help":
    case "--help":
    case undefined:
      print(USAGE);
      return command ? 0 : 2;
  }
  console.error(USAGE);
  return 2;
}

if (
  import.meta.url === `file://${process.argv[1]}` ||
  process.argv[1]?.endsWith("/bin/gyre.js") ||
  process.argv[1]?.endsWith("/.bin/gyre")
) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error) => {
      console.error(`gyre: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    },
  );
}
