/**
 * Backup, restore and clean-up end to end on the local stack, through the CLI's commands: a
 * running installation (pipelines, output, artifacts, test results, a cache, a project
 * variable and a context variable, one build still running) is backed up while it runs,
 * stopped and wiped, restored onto a fresh data directory and started again there. Every
 * table item, every object, every output line and every secret is checked; the running build
 * is settled; a build is deleted by its URL; retention expires what is old. First, the AWS
 * restores through the same command, with AWS mocked at the SDK boundary (Gyre has no account).
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import {
  DescribeContinuousBackupsCommand,
  DescribeTableCommand,
  DynamoDBClient,
  RestoreTableToPointInTimeCommand,
  ScanCommand,
} from "@aws-sdk/client-dynamodb";
import {
  GetBucketVersioningCommand,
  GetObjectCommand,
  ListObjectVersionsCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import {
  ScanCommand as DocumentScanCommand,
  DynamoDBDocumentClient,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import { hashToken } from "@gyre/core/auth/tokens";
import { ArchiveWriter, readAll, readArchive } from "@gyre/core/backup/archive";
import { pointInTimeSource, restoredNames } from "@gyre/core/backup/aws";
import { itemFromJson, itemToJson, type StoredItem } from "@gyre/core/backup/items";
import { listBucket } from "@gyre/core/backup/local";
import { MANIFEST_ENTRY, type Manifest } from "@gyre/core/backup/manifest";
import { createGyre, type Gyre } from "@gyre/core/context";
import { sweepExpired } from "@gyre/core/retention/index";
import { LocalKeyPort } from "@gyre/core/secret/index";
import { Keys } from "@gyre/core/table";
import { mockClient } from "aws-sdk-client-mock";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backupCommand, restoreCommand } from "../packages/cli/src/backup-command.ts";
import { buildDelete } from "../packages/cli/src/build-command.ts";
import { ApiError, Client } from "../packages/cli/src/client.ts";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { RUNTIME_FILE } from "../packages/cli/src/local/runtime-file.ts";
import { startStandIns } from "../packages/cli/src/local/standins.ts";
import { api, gitRepo, stepOutputs, tempDir, waitFor } from "./support.ts";

const PROJECT_VALUE = "project-secret-c0ffee-1234";
const CONTEXT_VALUE = "context-secret-beef-5678";
const SLUG = "gh/acme/backup";
const SLOW = "gh/acme/slow";
const DEPS = "left-pad 1.3.0\n";
const short = (value: string) => createHash("sha256").update(value).digest("hex").slice(0, 16);

/** A job's details (v2) with its id (which the details leave out and its workflow's list has). */
async function jobOf(client: ReturnType<typeof api>, slug: string, number: number) {
  const details = (await client.get(`/api/v2/project/${slug}/job/${number}`)).body;
  const workflow = (details.latest_workflow as { id: string }).id;
  const listed = (await client.get(`/api/v2/workflow/${workflow}/job`)).body.items!;
  return {
    webUrl: details.web_url as string,
    id: listed.find((j) => j.job_number === number)!.id as string,
  };
}

const CONFIG = `version: 2.1
jobs:
  build:
    machine: true
    steps:
      - checkout
      - restore_cache:
          keys:
            - v1-deps-{{ checksum "deps.txt" }}
      - run:
          name: Show cache
          command: if [ -e vendor/lib.txt ]; then cat vendor/lib.txt; else echo "no cache"; fi
      - run:
          name: Use the secrets
          command: |
            echo "project: $PROJECT_SECRET context: $CONTEXT_SECRET"
            printf %s "$PROJECT_SECRET" | sha256sum | cut -c1-16
            printf %s "$CONTEXT_SECRET" | sha256sum | cut -c1-16
      - run:
          name: Make outputs
          command: |
            mkdir -p vendor out test-results
            [ -e vendor/lib.txt ] || echo "deps from build $CIRCLE_BUILD_NUM" > vendor/lib.txt
            for i in $(seq 1 40); do echo "line $i of build $CIRCLE_BUILD_NUM"; done
            printf 'hello artifact\\n' > out/hello.txt
            printf '{"a":1}\\n' > out/data.json
            cat > test-results/junit.xml <<'XML'
            <?xml version="1.0" encoding="UTF-8"?>
            <testsuite name="unit" tests="2">
              <testcase classname="math" name="adds" time="0.5"/>
              <testcase classname="math" name="divides" time="0.25"><failure message="expected 2">got 3</failure></testcase>
            </testsuite>
            XML
      - save_cache:
          key: v1-deps-{{ checksum "deps.txt" }}
          paths:
            - vendor
      - store_artifacts:
          path: out
      - store_test_results:
          path: test-results
workflows:
  main:
    jobs:
      - build:
          context: [backup-ctx]
`;

const SLOW_CONFIG = `version: 2.1
jobs:
  slow:
    machine: true
    steps:
      - run:
          name: Wait
          command: echo "started"; sleep 600
  after:
    machine: true
    steps:
      - run: echo after
workflows:
  main:
    jobs:
      - slow
      - after:
          requires: [slow]
`;

const quiet = { heartbeatSeconds: 5, reconcileIntervalMs: 1000, reconcileGraceMs: 10_000, port: 0 };
const print = () => {};

interface Snapshot {
  items: Map<string, StoredItem>;
  objects: Map<string, { sha256: string; contentType?: string }>;
}

const itemKey = (item: StoredItem) => `${item.pk?.S}|${item.sk?.S}`;

/** The table and bucket of a stopped data directory, read through stand-ins over it. */
async function snapshot(dataDir: string): Promise<Snapshot> {
  const standIns = await startStandIns({
    dynamodbPath: join(dataDir, "dynamodb"),
    s3Directory: join(dataDir, "s3"),
    bucket: "gyre",
    queues: [],
  });
  const gyre: Gyre = createGyre(
    {
      region: "us-east-1",
      tableName: "gyre",
      bucketName: "gyre",
      intakeQueueUrl: "",
      jobQueueUrls: {},
      stateMachineArn: "",
      heartbeatSeconds: 30,
      queueTimeoutSeconds: 86400,
      maxJobSeconds: 18000,
      endpoints: standIns.endpoints,
    },
    new LocalKeyPort(dataDir),
    dataDir,
  );
  try {
    const items = new Map<string, StoredItem>();
    let start: StoredItem | undefined;
    do {
      const page = await gyre.aws.dynamo.send(
        new ScanCommand({ TableName: "gyre", ConsistentRead: true, ExclusiveStartKey: start }),
      );
      for (const item of (page.Items ?? []) as StoredItem[]) items.set(itemKey(item), item);
      start = page.LastEvaluatedKey as StoredItem | undefined;
    } while (start);
    const objects = new Map<string, { sha256: string; contentType?: string }>();
    for await (const object of listBucket(gyre)) {
      const out = await gyre.aws.s3.send(new GetObjectCommand({ Bucket: "gyre", Key: object.key }));
      const body = Buffer.from(await out.Body!.transformToByteArray());
      objects.set(object.key, {
        sha256: createHash("sha256").update(body).digest("hex"),
        ...(out.ContentType ? { contentType: out.ContentType } : {}),
      });
    }
    return { items, objects };
  } finally {
    gyre.aws.dynamo.destroy();
    gyre.aws.s3.destroy();
    await standIns.close();
  }
}

/** The table items an archive holds, as the backup saw them. */
async function archivedItems(archive: string): Promise<Map<string, StoredItem>> {
  const items = new Map<string, StoredItem>();
  await readArchive(archive, async (entry) => {
    if (!entry.name.startsWith("table/")) return;
    for (const line of (await readAll(entry.body)).toString("utf8").split("\n").filter(Boolean)) {
      const item = itemFromJson(JSON.parse(line));
      items.set(itemKey(item), item);
    }
  });
  return items;
}

const plain = (item: StoredItem | undefined) => (item ? itemToJson(item) : undefined);

/**
 * A copy of `source` with its manifest edited as `edit` says, every entry as it was: what
 * someone who can write an archive can make (nothing in it is signed).
 */
async function crafted(source: string, edit: (manifest: Manifest) => void): Promise<string> {
  const out = join(tempDir("backup-crafted"), "crafted.tar.gz");
  const writer = await ArchiveWriter.open(out, Date.now());
  let manifest: Manifest | undefined;
  await readArchive(source, async (entry) => {
    const body = await readAll(entry.body);
    if (entry.name === MANIFEST_ENTRY) manifest = JSON.parse(body.toString("utf8")) as Manifest;
    else await writer.add(entry.name, body.length, body, entry.mode);
  });
  edit(manifest!);
  const body = Buffer.from(JSON.stringify(manifest));
  await writer.add(MANIFEST_ENTRY, body.length, body);
  await writer.finish();
  return out;
}

/** Every file under `root` and a digest of its content: what a stopped data directory holds. */
function tree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (at: string, rel: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const name = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(join(at, entry.name), name);
      else
        out[name] = createHash("sha256")
          .update(readFileSync(join(at, entry.name)))
          .digest("hex");
    }
  };
  walk(root, "");
  return out;
}

describe("gyre restore --aws --point-in-time, through the command (aws-sdk-client-mock: no AWS account)", () => {
  // Before the local runtime runs: while they last, the mocks answer every client of this process.
  let mocks: ReturnType<typeof awsMocks>;
  const awsMocks = () => ({
    dynamodb: mockClient(DynamoDBClient),
    s3: mockClient(S3Client),
    document: mockClient(DynamoDBDocumentClient),
  });
  beforeAll(() => {
    mocks = awsMocks();
  });
  afterAll(() => {
    for (const mock of Object.values(mocks)) mock.restore();
  });
  /** The shell of stage prod (npx sst shell --stage prod): its linked table, bucket, key and settings. */
  const shell = {
    AWS_REGION: "eu-west-1",
    SST_RESOURCE_Table: JSON.stringify({ name: "gyre-prod-Table" }),
    SST_RESOURCE_Bucket: JSON.stringify({ name: "gyre-prod-bucket" }),
    SST_RESOURCE_DataKey: JSON.stringify({ id: "key-1" }),
    SST_RESOURCE_Settings: JSON.stringify({ stage: "prod" }),
  };

  it("restores the shell's stage as it was then into a new stage, drops its tokens, records the restore and says how to adopt it", async () => {
    const now = Math.floor(Date.now() / 1000) * 1000;
    const time = new Date(now - 3600_000).toISOString();
    mocks.dynamodb.onAnyCommand().resolves({});
    mocks.dynamodb.on(DescribeContinuousBackupsCommand).resolves({
      ContinuousBackupsDescription: {
        ContinuousBackupsStatus: "ENABLED",
        PointInTimeRecoveryDescription: {
          PointInTimeRecoveryStatus: "ENABLED",
          EarliestRestorableDateTime: new Date(now - 10 * 86_400_000),
          LatestRestorableDateTime: new Date(now - 300_000),
        },
      },
    });
    mocks.dynamodb.on(DescribeTableCommand).resolves({ Table: { TableStatus: "ACTIVE" } });
    mocks.s3.onAnyCommand().resolves({});
    mocks.s3.on(GetBucketVersioningCommand).resolves({ Status: "Enabled" });
    mocks.s3.on(ListObjectVersionsCommand).resolves({
      Versions: [
        { Key: "output/j1/1/0/steps.json", VersionId: "v1", LastModified: new Date(now - 7200_000), Size: 2 },
        { Key: "output/j1/1/0/steps.json", VersionId: "v2", LastModified: new Date(now - 60_000), Size: 3 },
      ],
    });
    // The restored table: no job in flight, one old token to drop.
    mocks.document.onAnyCommand().resolves({});
    mocks.document.on(QueryCommand).resolves({ Items: [] });
    mocks.document.on(DocumentScanCommand).resolves({ Items: [Keys.token("f".repeat(64))] });
    const lines: string[] = [];
    expect(
      await restoreCommand(
        undefined,
        { aws: true, pointInTime: time, stage: "dr" },
        (l) => lines.push(l),
        shell,
      ),
    ).toBe(0);

    const names = restoredNames("gyre", "dr", pointInTimeSource("gyre-prod-Table", Date.parse(time)));
    expect(mocks.dynamodb.commandCalls(RestoreTableToPointInTimeCommand).map((c) => c.args[0].input)).toEqual(
      [{ SourceTableName: "gyre-prod-Table", TargetTableName: names.table, RestoreDateTime: new Date(time) }],
    );
    // The settle and the record went to the restored table, never the stage's own.
    const tables = mocks.document.calls().flatMap((c) => {
      const input = c.args[0].input as { TableName?: string; RequestItems?: Record<string, unknown> };
      return input.TableName ? [input.TableName] : Object.keys(input.RequestItems ?? {});
    });
    expect(new Set(tables)).toEqual(new Set([names.table]));
    const record = mocks.document
      .commandCalls(PutCommand)
      .map((c) => c.args[0].input.Item?.record as { action: string })
      .find((r) => r?.action === "installation.restore");
    expect(record).toMatchObject({
      actor: { type: "system", name: "gyre" },
      target: { id: names.table, type: "installation", name: "dr" },
      payload: {
        via: "gyre restore --aws --point-in-time",
        backup: { point_in_time: time, table: "gyre-prod-Table", bucket: "gyre-prod-bucket", stage: "prod" },
        objects: 1,
        objects_skipped: 0,
        interrupted_jobs: 0,
        credentials: {
          kept: false,
          tokens_dropped: 1,
          sessions_dropped: 0,
          sign_ins_dropped: 0,
          nodes_dropped: 0,
          signing_keys_dropped: 0,
        },
      },
    });
    expect(lines.filter((l) => !l.startsWith("restore: "))).toEqual([
      `Restored table ${names.table} and bucket ${names.bucket} (1 object(s)) from gyre-prod-Table and gyre-prod-bucket as they were at ${time}.`,
      "The backup's 1 API token(s) (personal, project, operator), 0 session(s) and 0 builder node(s) were dropped: they do not work here. " +
        "Sign in again and make new tokens; builders register again with this installation's join token (or restore with --keep-tokens to keep them).",
      "  Administrators sign in again (GitHub or LDAP) for a token; with no way to sign in:  " +
        "npx sst shell --stage dr -- npx gyre admin bootstrap --force --login <a new login>",
      "Deploy the stage onto them (its stack adopts both, and the old stage's KMS key):",
      `  GYRE_ADOPT_TABLE=${names.table} GYRE_ADOPT_BUCKET=${names.bucket} GYRE_ADOPT_DATA_KEY=key-1 npx sst deploy --stage dr`,
    ]);
  });

  it("refuses --point-in-time beside a backup, without a stage, not a time, without --aws, or outside the stage's shell", async () => {
    mocks.dynamodb.reset();
    const time = "2026-03-01T12:00:00Z";
    const refusals: [Parameters<typeof restoreCommand>[1], NodeJS.ProcessEnv, string | RegExp][] = [
      [
        { aws: true, pointInTime: time, backupArn: "arn:x", stage: "dr" },
        shell,
        /give it without --backup-arn and --manifest/,
      ],
      [
        { aws: true, pointInTime: time, manifest: "m.json", stage: "dr" },
        shell,
        /give it without --backup-arn and --manifest/,
      ],
      [
        { aws: true, pointInTime: time },
        shell,
        "gyre restore --aws --point-in-time <ISO time> needs --stage <new stage>",
      ],
      [
        { aws: true, pointInTime: "yesterday", stage: "dr" },
        shell,
        '--point-in-time "yesterday" is not a time',
      ],
      [{ pointInTime: time, dataDir: "x" }, shell, "--point-in-time restores a stage on AWS"],
      [
        { aws: true, pointInTime: time, stage: "dr" },
        {},
        /SST_RESOURCE_Table \/ SST_RESOURCE_Bucket are not set/,
      ],
    ];
    for (const [options, env, message] of refusals)
      await expect(restoreCommand(undefined, options, print, env), JSON.stringify(options)).rejects.toThrow(
        message,
      );
    // Nothing reached AWS.
    expect(mocks.dynamodb.calls()).toHaveLength(0);
  });
});

let a: LocalRuntime | undefined;
let b: LocalRuntime | undefined;
const dirA = tempDir("backup-a");
const dirB = join(tempDir("backup-b"), "restored");
const archive = join(tempDir("backup-archive"), "gyre.tar.gz");

afterAll(async () => {
  await a?.stop();
  await b?.stop();
});

describe("gyre backup and gyre restore (local runtime)", () => {
  /** What the installation showed through its API before the backup, to find again after the restore. */
  const before = {
    outputs: new Map<number, Awaited<ReturnType<typeof stepOutputs>>>(),
    artifacts: new Map<number, { path: string; body: string; type: string | null }[]>(),
    tests: new Map<number, unknown>(),
    envvars: undefined as unknown,
    contextVars: undefined as unknown,
    contextId: "",
    buildNumber: 0,
    slow: { number: 0, workflowId: "", afterNumber: 0 },
    againNumber: 0,
  };
  /** The backed-up installation's admin token: a restore drops it unless --keep-tokens. */
  let oldAdminToken = "";

  async function readArtifacts(client: ReturnType<typeof api>, runtime: LocalRuntime, number: number) {
    const list = await client.get(`/api/v2/project/${SLUG}/${number}/artifacts`);
    expect(list.status).toBe(200);
    return Promise.all(
      (list.body.items as { path: string; url: string }[]).map(async (item) => {
        const res = await fetch(item.url, { headers: { "circle-token": runtime.adminToken } });
        return { path: item.path, body: await res.text(), type: res.headers.get("content-type") };
      }),
    );
  }

  it("backs up a running installation with pipelines, output, artifacts, caches, env vars and contexts, " +
    "wipes it, restores onto a fresh data directory and checks every record, every output line and every " +
    "secret (usable, still sealed) came back", async () => {
    // --- A running installation -------------------------------------------------------
    a = await startLocalRuntime({ dataDir: dirA, ...quiet });
    const client = api(a.url, a.adminToken);
    const repo = gitRepo({ ".circleci/config.yml": CONFIG, "deps.txt": DEPS });
    expect((await client.post("/api/gyre/projects", { repo_url: repo.path, slug: SLUG })).status).toBe(201);
    const slowRepo = gitRepo({ ".circleci/config.yml": SLOW_CONFIG });
    expect((await client.post("/api/gyre/projects", { repo_url: slowRepo.path, slug: SLOW })).status).toBe(
      201,
    );
    expect(
      (await client.post(`/api/v2/project/${SLUG}/envvar`, { name: "PROJECT_SECRET", value: PROJECT_VALUE }))
        .status,
    ).toBe(201);
    const ctx = await client.post("/api/v2/context", {
      name: "backup-ctx",
      owner: { slug: "gh/acme", type: "organization" },
    });
    expect(ctx.status).toBe(200);
    before.contextId = ctx.body.id as string;
    const put = await fetch(
      `${a.url}/api/v2/context/${before.contextId}/environment-variable/CONTEXT_SECRET`,
      {
        method: "PUT",
        headers: { "circle-token": a.adminToken, "content-type": "application/json" },
        body: JSON.stringify({ value: CONTEXT_VALUE }),
      },
    );
    expect(put.status).toBe(200);

    const runBuild = async (c: ReturnType<typeof api>) => {
      const created = await c.post(`/api/v2/project/${SLUG}/pipeline`, { branch: "main" });
      expect(created.status).toBe(201);
      return waitFor(
        "the build to finish",
        async () => {
          const [wf] = (await c.get(`/api/v2/pipeline/${created.body.id}/workflow`)).body.items ?? [];
          if (!wf || !["success", "failed"].includes(wf.status as string)) return undefined;
          const [job] = (await c.get(`/api/v2/workflow/${wf.id}/job`)).body.items!;
          return job;
        },
        90_000,
      );
    };
    const build = await runBuild(client);
    expect(build!.status).toBe("success");
    before.buildNumber = build!.job_number as number;
    const outputs = await stepOutputs(client, SLUG, before.buildNumber);
    const byName = Object.fromEntries(outputs.map((s) => [s.name, s.output]));
    expect(byName["Show cache"]).toBe("no cache\n");
    // The secrets open in the job and are masked in its output.
    expect(byName["Use the secrets"]).toBe(
      `project: ******** context: ********\n${short(PROJECT_VALUE)}\n${short(CONTEXT_VALUE)}\n`,
    );
    expect(byName["Make outputs"]).toContain(`line 40 of build ${before.buildNumber}\n`);
    before.outputs.set(before.buildNumber, outputs);
    before.artifacts.set(before.buildNumber, await readArtifacts(client, a, before.buildNumber));
    expect(before.artifacts.get(before.buildNumber)!.map((x) => x.path)).toEqual([
      "out/data.json",
      "out/hello.txt",
    ]);
    before.tests.set(
      before.buildNumber,
      (await client.get(`/api/v2/project/${SLUG}/${before.buildNumber}/tests`)).body,
    );
    before.envvars = (await client.get(`/api/v2/project/${SLUG}/envvar`)).body;
    before.contextVars = (await client.get(`/api/v2/context/${before.contextId}/environment-variable`)).body;

    // A build still running when the backup is taken, another waiting behind it.
    const slowPipeline = await client.post(`/api/v2/project/${SLOW}/pipeline`, { branch: "main" });
    const slow = await waitFor(
      "the slow build to run",
      async () => {
        const [wf] = (await client.get(`/api/v2/pipeline/${slowPipeline.body.id}/workflow`)).body.items ?? [];
        if (!wf) return undefined;
        const jobs = (await client.get(`/api/v2/workflow/${wf.id}/job`)).body.items!;
        const job = jobs.find((j) => j.name === "slow");
        if (job?.status !== "running") return undefined;
        const steps = await stepOutputs(client, SLOW, job.job_number as number).catch(() => []);
        if (!steps.some((s) => s.output.includes("started"))) return undefined;
        return { job, after: jobs.find((j) => j.name === "after")!, workflowId: wf.id as string };
      },
      60_000,
    );
    before.slow = {
      number: slow.job.job_number as number,
      workflowId: slow.workflowId,
      afterNumber: slow.after.job_number as number,
    };

    // A running build is not deleted (the reference's clean-up is for builds that ended).
    const cli = new Client(a.url, a.adminToken);
    const refused = await buildDelete(cli, `${SLOW}/${before.slow.number}`, {}, print).catch(
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(ApiError);
    expect((refused as ApiError).status).toBe(409);
    expect((refused as ApiError).message).toMatch(/is running: cancel its workflow/);

    // --- Backed up while it runs, through the CLI -------------------------------------
    expect(readFileSync(join(dirA, RUNTIME_FILE), "utf8")).toContain(a.url);
    // It points at stand-ins that take any request: only its owner reads it.
    expect(statSync(join(dirA, RUNTIME_FILE)).mode & 0o777).toBe(0o600);
    const lines: string[] = [];
    expect(await backupCommand({ dataDir: dirA, out: archive, includeKey: true }, (l) => lines.push(l))).toBe(
      0,
    );
    expect(lines.join("\n")).toMatch(/while Gyre ran/);
    expect(lines.join("\n")).toMatch(/1 job\(s\) were queued or running/);
    const backedUp = await archivedItems(archive);

    // Secrets stay sealed in the archive: neither value appears in it anywhere.
    const tar = gunzipSync(readFileSync(archive)).toString("latin1");
    expect(tar).not.toContain(PROJECT_VALUE);
    expect(tar).not.toContain(CONTEXT_VALUE);

    // --- Stopped, wiped ----------------------------------------------------------------
    oldAdminToken = a.adminToken;
    await a.stop();
    a = undefined;
    const original = await snapshot(dirA);
    // The backup holds every record the installation had, as it had it, but for what kept
    // moving after it: node heartbeats, the running build, audit records written since.
    const moved = (key: string) =>
      key.startsWith("NODE#") ||
      key.startsWith("AUDIT#") ||
      key.includes(`|JOB#slow`) ||
      key.startsWith("TOKEN#");
    for (const [key, item] of original.items) {
      if (moved(key)) continue;
      expect(plain(backedUp.get(key)), key).toEqual(plain(item));
    }
    for (const key of backedUp.keys()) expect(original.items.has(key), key).toBe(true);
    rmSync(dirA, { recursive: true, force: true });

    // --- Restored onto a fresh data directory ------------------------------------------
    const restoreLines: string[] = [];
    expect(await restoreCommand(archive, { dataDir: dirB }, (l) => restoreLines.push(l))).toBe(0);
    expect(restoreLines.join("\n")).toMatch(
      /1 job\(s\) in flight at backup time now end infrastructure_fail/,
    );
    const restored = await snapshot(dirB);

    // Every item came back as it was backed up, but the old installation's credentials: tokens,
    // sessions, builder nodes and link-signing keys (dropped). Documented bookkeeping of a restore only: the fresh local admin and builder
    // tokens, the settled in-flight job and its audit record, and the restore's own record.
    const added = [...restored.items.keys()].filter((k) => !backedUp.has(k));
    for (const key of added) {
      const item = restored.items.get(key)!;
      const isRestoreToken = key.startsWith("TOKEN#") && /\(restored\)$/.test(item.label?.S ?? "");
      // The settle's record of the job it ended (workflow.job.finish, infrastructure_fail).
      const record = JSON.stringify(plain(item));
      const isSettleAudit =
        key.startsWith("AUDIT#") &&
        record.includes('"workflow.job.finish"') &&
        record.includes('"infrastructure_fail"');
      const isRestoreAudit = key.startsWith("AUDIT#") && record.includes('"installation.restore"');
      expect(
        isRestoreToken || isSettleAudit || isRestoreAudit,
        `${key} is new after the restore: ${JSON.stringify(plain(item))}`,
      ).toBe(true);
    }
    expect(added.filter((k) => k.startsWith("TOKEN#"))).toHaveLength(2);
    const credential = (key: string) =>
      ["TOKEN#", "SESSION#", "NODE#", "SIGNINGKEY#"].some((prefix) => key.startsWith(prefix));
    const oldCredentials = [...backedUp.keys()].filter(credential);
    expect(oldCredentials.length).toBeGreaterThanOrEqual(2); // the old admin's and builders' tokens at least
    for (const [key, item] of backedUp) {
      if (key.includes("|JOB#slow")) continue;
      if (credential(key)) expect(restored.items.has(key), `${key} survived the restore`).toBe(false);
      else expect(plain(restored.items.get(key)), key).toEqual(plain(item));
    }
    // The restore said so, and recorded itself in the restored installation's audit log (below).
    const count = (prefix: string, sk?: string) =>
      oldCredentials.filter((k) => k.startsWith(prefix) && (sk === undefined || k.endsWith(`|${sk}`))).length;
    const oldTokens = count("TOKEN#");
    const oldSessions = count("SESSION#");
    const oldNodes = count("NODE#", "NODE");
    expect(oldNodes).toBeGreaterThanOrEqual(1);
    expect(restoreLines.join("\n")).toContain(
      `The backup's ${oldTokens} API token(s) (personal, project, operator), ${oldSessions} session(s) and ${oldNodes} builder node(s) were dropped`,
    );

    // The build that ran during the backup is settled: nothing stays running.
    const slowJob = [...restored.items.values()].find(
      (i) => i.sk?.S === "JOB#slow" && i.projectSlug?.S === SLOW,
    )!;
    expect(slowJob.status?.S).toBe("infrastructure_fail");
    expect(slowJob.gsi2pk).toBeUndefined();
    expect(JSON.stringify(plain(slowJob))).toMatch(/interrupted by a restore/);
    // Every object came back, with its content type, but for what the settle wrote: the running
    // build's steps document (its step ended) and one chunk more of that step's output (why it
    // ended; both read through the API below).
    const slowSteps = new RegExp(`^output/${slowJob.id?.S}/\\d+/\\d+/steps\\.json$`);
    const slowChunk = new RegExp(`^output/${slowJob.id?.S}/\\d+/\\d+/\\d{4}/\\d{8}$`);
    expect([...restored.objects.keys()].filter((key) => !original.objects.has(key))).toEqual([
      expect.stringMatching(slowChunk),
    ]);
    for (const [key, object] of original.objects)
      if (slowSteps.test(key)) expect(restored.objects.get(key)?.sha256, key).not.toBe(object.sha256);
      else expect(restored.objects.get(key), key).toEqual(object);

    // The sealed values are still sealed in the restored table: never the value itself.
    const envItem = [...restored.items.values()].find((i) => i.sk?.S === "ENVVAR#PROJECT_SECRET")!;
    expect(envItem.sealed?.S).toMatch(/^v1\./);
    const table = JSON.stringify([...restored.items.values()].map(plain));
    expect(table).not.toContain(PROJECT_VALUE);
    expect(table).not.toContain(CONTEXT_VALUE);

    // --- Started there: the API shows what it showed ------------------------------------
    b = await startLocalRuntime({ dataDir: dirB, ...quiet });
    const restoredClient = api(b.url, b.adminToken);
    // The old installation's admin token does not open the restored one; its new one does.
    expect((await api(b.url, oldAdminToken).get("/api/v2/me")).status).toBe(401);
    expect((await restoredClient.get("/api/v2/me")).status).toBe(200);
    expect((await restoredClient.get("/api/gyre/audit?action=installation.restore")).body.items).toEqual([
      expect.objectContaining({
        action: "installation.restore",
        actor: { id: expect.any(String), type: "system", name: "gyre" },
        target: { id: dirB, type: "installation", name: "local" },
        success: true,
        payload: expect.objectContaining({
          via: "gyre restore",
          backup: expect.objectContaining({ data_dir: dirA }),
          interrupted_jobs: 1,
          credentials: {
            kept: false,
            tokens_dropped: oldTokens,
            sessions_dropped: oldSessions,
            sign_ins_dropped: 0,
            nodes_dropped: count("NODE#"),
            signing_keys_dropped: count("SIGNINGKEY#"),
          },
        }),
      }),
    ]);
    for (const [number, outputs] of before.outputs)
      expect(await stepOutputs(restoredClient, SLUG, number)).toEqual(outputs);
    for (const [number, artifacts] of before.artifacts)
      expect(await readArtifacts(restoredClient, b, number)).toEqual(artifacts);
    for (const [number, tests] of before.tests)
      expect((await restoredClient.get(`/api/v2/project/${SLUG}/${number}/tests`)).body).toEqual(tests);
    expect((await restoredClient.get(`/api/v2/project/${SLUG}/envvar`)).body).toEqual(before.envvars);
    expect(
      (await restoredClient.get(`/api/v2/context/${before.contextId}/environment-variable`)).body,
    ).toEqual(before.contextVars);

    // The settled build and the one behind it: ended, and the workflow with them.
    await waitFor("the reconciler to advance the interrupted workflow", async () => {
      const jobs = (await restoredClient.get(`/api/v2/workflow/${before.slow.workflowId}/job`)).body.items!;
      return jobs.every((j) => ["infrastructure_fail", "not_run"].includes(j.status as string))
        ? jobs
        : undefined;
    });
    const slowAfter = await restoredClient.get(`/api/v2/project/${SLOW}/job/${before.slow.number}`);
    expect(slowAfter.body.status).toBe("infrastructure_fail");
    expect(JSON.stringify(slowAfter.body.messages)).toMatch(/The build was interrupted by a restore/);
    expect((await restoredClient.get(`/api/v2/workflow/${before.slow.workflowId}`)).body.status).toBe(
      "failed",
    );
    // The partial output the running build had at backup time is still readable, and the step it
    // was in ended with it (not running for ever), saying why.
    const slowOutput = await stepOutputs(restoredClient, SLOW, before.slow.number);
    const wait = slowOutput.find((s) => s.name === "Wait")!;
    expect(wait.output).toContain("started");
    expect(wait.status).toBe("canceled");
    expect(wait.output).toMatch(
      /\nThis step was interrupted by a restore: it was running when the backup was taken \(.*\)\. Rerun the workflow to run it again\.\n$/,
    );
    expect(slowOutput.some((s) => s.status === "running")).toBe(false);

    // The secrets open (a new build uses them, masked) and the cache saved before the backup is found.
    const again = await runBuild(restoredClient);
    expect(again!.status).toBe("success");
    const againOutput = Object.fromEntries(
      (await stepOutputs(restoredClient, SLUG, again!.job_number as number)).map((s) => [s.name, s.output]),
    );
    expect(againOutput["Use the secrets"]).toBe(
      `project: ******** context: ********\n${short(PROJECT_VALUE)}\n${short(CONTEXT_VALUE)}\n`,
    );
    expect(againOutput["Show cache"]).toBe(`deps from build ${before.buildNumber}\n`);
    before.againNumber = again!.job_number as number;
  }, 240_000);

  it("refuses a damaged archive, a directory in use or not empty, and a restore the key is missing for, writing nothing", async () => {
    expect(b).toBeDefined();
    const damaged = join(tempDir("backup-damaged"), "bad.tar.gz");
    const bytes = readFileSync(archive);
    const flipped = Buffer.from(bytes);
    flipped[Math.floor(bytes.length / 3)]! ^= 0x55;
    writeFileSync(damaged, flipped);
    const target = join(tempDir("backup-target"), "fresh");
    await expect(restoreCommand(damaged, { dataDir: target }, print)).rejects.toThrow(/damaged/);
    expect(existsSync(target)).toBe(false);

    await expect(restoreCommand(archive, { dataDir: dirB }, print)).rejects.toThrow(/A Gyre is running on/);
    const used = tempDir("backup-used");
    writeFileSync(join(used, "something"), "x");
    mkdirSync(join(used, "work"));
    writeFileSync(join(used, "work", "thesis.tex"), "years of it");
    await expect(restoreCommand(archive, { dataDir: used }, print)).rejects.toThrow(/is not empty/);
    expect(existsSync(join(used, "dynamodb"))).toBe(false);
    // --force replaces only a Gyre data directory's contents: this one is not one, and is left alone.
    const usedBefore = tree(used);
    await expect(restoreCommand(archive, { dataDir: used, force: true }, print)).rejects.toThrow(
      /is not empty and not a Gyre data directory \(it has no dynamodb\/ and no master\.key\)/,
    );
    expect(tree(used)).toEqual(usedBefore);
    expect(readFileSync(join(used, "work", "thesis.tex"), "utf8")).toBe("years of it");

    // An archive whose manifest sends an object out of the data directory (s3rver maps keys to
    // paths): refused whole, before anything is written.
    const escaping = await crafted(archive, (m) => {
      const object = m.entries.find((e) => e.kind === "object")!;
      (object as { key: string }).key = "../../../escaped/x";
    });
    const escapeRoot = tempDir("backup-escape");
    const escapeTarget = join(escapeRoot, "a", "b", "fresh");
    await expect(restoreCommand(escaping, { dataDir: escapeTarget }, print)).rejects.toThrow(
      /is refused: its manifest names the object key "\.\.\/\.\.\/\.\.\/escaped\/x", which Gyre never writes/,
    );
    expect(readdirSync(escapeRoot)).toEqual([]);
    expect(existsSync(join(escapeRoot, "escaped"))).toBe(false);

    // An --include-key archive whose key is not the one its manifest names: refused.
    const otherKey = await crafted(archive, (m) => {
      m.key.fingerprint = `sha256:${"0".repeat(64)}`;
    });
    await expect(restoreCommand(otherKey, { dataDir: target }, print)).rejects.toThrow(
      /the master key it holds \(keys\/master\.key\) is not the one its manifest names/,
    );
    expect(existsSync(target)).toBe(false);

    // A backup without the key (of the restored installation, while it runs): its secrets need the key file.
    const keyless = join(tempDir("backup-keyless"), "keyless.tar.gz");
    expect(await backupCommand({ dataDir: dirB, out: keyless }, print)).toBe(0);
    const noKey = join(tempDir("backup-nokey"), "fresh");
    await expect(restoreCommand(keyless, { dataDir: noKey }, print)).rejects.toThrow(
      /made without --include-key and no master key was given: its \d+ sealed value\(s\) .* would not open/,
    );
    expect(existsSync(noKey)).toBe(false);
    const wrongKey = join(tempDir("backup-wrong"), "master.key");
    writeFileSync(wrongKey, Buffer.alloc(32, 9), { mode: 0o600 });
    await expect(restoreCommand(keyless, { dataDir: noKey, key: wrongKey }, print)).rejects.toThrow(
      /is not the master key this backup's sealed values were sealed with/,
    );
    expect(existsSync(noKey)).toBe(false);
    // With the original key given, it restores (and the key is written beside the data, 0600).
    expect(await restoreCommand(keyless, { dataDir: noKey, key: join(dirB, "master.key") }, print)).toBe(0);
    expect(readFileSync(join(noKey, "master.key")).equals(readFileSync(join(dirB, "master.key")))).toBe(true);
    expect(statSync(join(noKey, "master.key")).mode & 0o777).toBe(0o600);
  });

  it("--force replaces a stopped installation's table, bucket and tokens, and a restore that fails leaves it as it was", async () => {
    const root = tempDir("backup-force");
    const installed = join(root, "installed");
    expect(await restoreCommand(archive, { dataDir: installed }, print)).toBe(0);
    // What the installation has besides: scratch --force replaces, a file of the operator's it keeps.
    mkdirSync(join(installed, "work", "old-job"), { recursive: true });
    writeFileSync(join(installed, "work", "old-job", "x"), "scratch");
    writeFileSync(join(installed, "notes.txt"), "the operator's");
    const before = tree(installed);
    const adminToken = readFileSync(join(installed, "admin-token"), "utf8");

    // A restore that fails once it has written everything (the manifest's count is off):
    // the installation is untouched, and nothing is left beside it.
    const failing = await crafted(archive, (m) => {
      m.counts.items += 1;
    });
    await expect(restoreCommand(failing, { dataDir: installed, force: true }, print)).rejects.toThrow(
      /restored \d+ item\(s\) and \d+ object\(s\), but the manifest lists/,
    );
    expect(tree(installed)).toEqual(before);
    expect(readdirSync(root)).toEqual(["installed"]);

    // The same with a good archive: replaced (new tokens, no old scratch), the operator's file kept.
    const lines: string[] = [];
    expect(await restoreCommand(archive, { dataDir: installed, force: true }, (l) => lines.push(l))).toBe(0);
    expect(lines.join("\n")).toContain(`into ${installed}.`);
    expect(readdirSync(root)).toEqual(["installed"]);
    expect(readFileSync(join(installed, "admin-token"), "utf8")).not.toBe(adminToken);
    expect(existsSync(join(installed, "work"))).toBe(false);
    expect(readFileSync(join(installed, "notes.txt"), "utf8")).toBe("the operator's");
    expect(statSync(installed).mode & 0o777).toBe(0o700);
    expect(statSync(join(installed, "master.key")).mode & 0o777).toBe(0o600);
    const restored = await snapshot(installed);
    expect(restored.items.size).toBeGreaterThan(0);
    expect(restored.objects.size).toBeGreaterThan(0);
    const tokenKey = Keys.token(hashToken(oldAdminToken));
    const oldToken = `${tokenKey.pk}|${tokenKey.sk}`;
    expect((await archivedItems(archive)).has(oldToken)).toBe(true);
    expect(restored.items.has(oldToken)).toBe(false);

    // --keep-tokens: the backup's tokens stay (and the restore says so, and records it).
    const kept: string[] = [];
    expect(
      await restoreCommand(archive, { dataDir: installed, force: true, keepTokens: true }, (l) =>
        kept.push(l),
      ),
    ).toBe(0);
    expect(kept.join("\n")).toContain("The backup's API tokens and sessions were kept (--keep-tokens)");
    const keeping = await snapshot(installed);
    expect(keeping.items.has(oldToken)).toBe(true);
    // The record as the table holds it (DynamoDB's JSON): its payload says the tokens were kept.
    const record = [...keeping.items.values()].find(
      (item) => item.record?.M?.action?.S === "installation.restore",
    );
    expect(record?.record?.M?.payload?.M?.credentials?.M?.kept?.BOOL).toBe(true);
  }, 120_000);

  it("gyre build delete removes a build's records and output, named by its URL or slug/number", async () => {
    const client = api(b!.url, b!.adminToken);
    const cli = new Client(b!.url, b!.adminToken);
    const job = await jobOf(client, SLUG, before.buildNumber);
    expect(job.webUrl).toMatch(/\/pipelines\/gh\/acme\/backup\/\d+\/workflows\/.+\/jobs\/\d+$/);
    const prefixes = [`output/${job.id}/`, `artifacts/${job.id}/`, `tests/${job.id}/`];
    const count = async () => {
      let n = 0;
      for (const prefix of prefixes) for await (const _ of listBucket(b!.gyre, prefix)) n++;
      return n;
    };
    expect(await count()).toBeGreaterThan(0);
    const lines: string[] = [];
    expect(await buildDelete(cli, job.webUrl, {}, (l) => lines.push(l))).toBe(0);
    expect(lines[0]).toMatch(new RegExp(`^Deleted build ${SLUG}/${before.buildNumber} `));
    expect(await count()).toBe(0);
    expect((await client.get(`/api/v2/project/${SLUG}/job/${before.buildNumber}`)).status).toBe(404);
    expect((await client.get(`/api/v1.1/project/${SLUG}/${before.buildNumber}`)).status).toBe(404);
    // The reference's URL form, and the slug form, of a build that is gone: 404.
    const gone = await buildDelete(cli, `${b!.url}/${SLUG}/${before.buildNumber}`, {}, print).catch(
      (e: unknown) => e,
    );
    expect((gone as ApiError).status).toBe(404);
    await expect(buildDelete(cli, "not a build", {}, print)).rejects.toThrow(/Not a build/);
    // Another Gyre's URL names another build: refused, naming both, and nothing is deleted here.
    const other = await jobOf(client, SLUG, before.againNumber);
    const foreign = other.webUrl.replace(new URL(b!.url).origin, "https://ci.example.com");
    await expect(buildDelete(cli, foreign, {}, print)).rejects.toThrow(
      `${foreign} is a build of https://ci.example.com, but this CLI talks to the Gyre at ${new URL(b!.url).origin} (GYRE_URL)`,
    );
    expect((await client.get(`/api/v2/project/${SLUG}/job/${before.againNumber}`)).status).toBe(200);
  });

  it("retention: expired output, artifacts and caches leave the API cleanly and the sweep deletes them", async () => {
    const gyre = b!.gyre;
    const client = api(b!.url, b!.adminToken);
    const number = before.againNumber;
    const patch = await fetch(`${b!.url}/api/gyre/settings`, {
      method: "PATCH",
      headers: { "circle-token": b!.adminToken, "content-type": "application/json" },
      body: JSON.stringify({ retention_output_days: 2, retention_artifact_days: 2, retention_cache_days: 1 }),
    });
    expect(patch.status).toBe(200);
    const job = await jobOf(client, SLUG, number);
    expect((await client.get(`/api/v2/project/${SLUG}/${number}/artifacts`)).body.items).toHaveLength(2);
    const steps = await stepOutputs(client, SLUG, number);
    expect(steps.length).toBeGreaterThan(0);

    // An old build: it ended three days ago.
    const item = (
      await gyre.aws.dynamo.send(
        new ScanCommand({
          TableName: "gyre",
          // The job's own item (its workflow's partition), not its insights run record, which has the id too.
          FilterExpression: "id = :id AND begins_with(pk, :workflow) AND begins_with(sk, :job)",
          ExpressionAttributeValues: {
            ":id": { S: job.id as string },
            ":workflow": { S: "WORKFLOW#" },
            ":job": { S: "JOB#" },
          },
        }),
      )
    ).Items![0]!;
    const old = new Date(Date.now() - 3 * 86_400_000).toISOString();
    await gyre.aws.dynamo.send(
      new UpdateCommand({
        TableName: "gyre",
        Key: { pk: item.pk!.S, sk: item.sk!.S },
        UpdateExpression: "SET stoppedAt = :old",
        ExpressionAttributeValues: { ":old": old },
      }),
    );
    // Gone from the API at once, with a message, before anything is deleted.
    expect((await client.get(`/api/v2/project/${SLUG}/${number}/artifacts`)).body.items).toEqual([]);
    expect((await client.get(`/api/v1.1/project/${SLUG}/${number}/artifacts`)).body).toEqual([]);
    const build = (await client.get(`/api/v1.1/project/${SLUG}/${number}`)).body as {
      steps: { actions: { output_url: string }[] }[];
    };
    const output = await client.get(new URL(build.steps[0]!.actions[0]!.output_url).pathname);
    expect(output.status).toBe(404);
    expect(output.body.message).toBe(
      `The output of job ${number} expired: output is kept 2 days after the job ends (setting retention_output_days).`,
    );

    // The sweep, as it runs three days from now: the old build's output, every artifact past two
    // days and the cache past one day go; the API still answers cleanly.
    const later: Gyre = { ...gyre, now: () => Date.now() + 3 * 86_400_000 };
    const swept = await sweepExpired(later);
    expect(swept.deleted.output).toBeGreaterThan(0);
    expect(swept.deleted.artifacts).toBeGreaterThan(0);
    expect(swept.caches).toBe(1);
    for (const prefix of [`output/${job.id}/`, `artifacts/${job.id}/`, "caches/"])
      for await (const object of listBucket(gyre, prefix)) throw new Error(`${object.key} is still there`);
    const after = await client.get(new URL(build.steps[0]!.actions[0]!.output_url).pathname);
    expect(after.status).toBe(404);
    expect(after.body.message).toMatch(/expired/);
    expect((await client.get(`/api/v1.1/project/${SLUG}/${number}`)).status).toBe(200);
    // Test results are not expired.
    expect((await client.get(`/api/v2/project/${SLUG}/${number}/tests`)).body.items).toHaveLength(2);
  });
});
