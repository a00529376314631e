/**
 * `gyre backup` and `gyre restore` (docs/operations.md, "Backup and restore").
 *
 * Locally the commands talk to the table and the bucket themselves, through the SDK clients:
 * to the stand-ins of the Gyre running on the data directory (their endpoints are in its
 * runtime.json), or, when none runs there, to stand-ins they start over the directory for the
 * time of the command. Not through the HTTP API: the archive can be far larger than an HTTP
 * answer should carry (and on AWS than API Gateway and Lambda carry at all), a restore writes
 * into a data directory no Gyre serves yet, and the master key, which only --include-key
 * puts in an archive, must never be something an API token can download: reading it takes
 * the file system access that running Gyre takes. On AWS (`--aws`, in `npx sst shell`) the
 * same commands use the stage's linked table, bucket and key with the operator's credentials.
 *
 *   gyre backup [--data-dir .gyre] [--out FILE [--force]] [--include-key] [--json]
 *   gyre restore <archive> --data-dir <fresh dir> [--key <master.key>] [--force] [--keep-tokens] [--json]
 *   gyre backup --aws [--out FILE [--force]] [--json]          (npx sst shell --stage S -- ...)
 *   gyre restore --aws --backup-arn ARN --manifest FILE|s3://... --stage NEW [--keep-tokens] [--json]
 *   gyre restore --aws --point-in-time ISO-TIME --stage NEW [--keep-tokens] [--json]   (in the source stage's shell)
 *
 * `--out` names a new file in an existing directory: a file already there is replaced only with
 * `--force`. A restore drops the backed-up installation's tokens and sessions unless given
 * `--keep-tokens` (core/src/backup/restored.ts), and records itself (`installation.restore`).
 */
import { constants } from "node:fs";
import { chmod, copyFile, lstat, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { AwsRestored, AwsRestoreReport } from "@gyre/core/backup/aws";
import type { DroppedCredentials } from "@gyre/core/backup/restored";
import { DEFAULT_DATA_DIR } from "./client.ts";
import { RUNTIME_FILE, runningGyre } from "./local/runtime-file.ts";
import { startStandIns } from "./local/standins.ts";

type Print = (line: string) => void;

const LOCAL = { region: "us-east-1", table: "gyre", bucket: "gyre" } as const;

async function gyreVersion(): Promise<string> {
  const path = join(dirname(fileURLToPath(import.meta.url)), "../package.json");
  return (JSON.parse(await readFile(path, "utf8")) as { version: string }).version;
}

const json = (value: unknown) => JSON.stringify(value, null, 2);
const stamp = () => new Date().toISOString().replace(/[-:]/g, "").replace(/\..*$/, "Z");

/**
 * A Gyre over local stand-ins (resources the backup does not use are left empty). Its S3
 * client sends checksums only where S3 requires them: a streamed upload (an object restored
 * from the archive) is otherwise sent `aws-chunked` with a trailing checksum, which s3rver
 * stores as the object's content.
 */
async function localGyre(dataDir: string, endpoints: { dynamodb: string; s3: string }) {
  const [{ createGyre }, { CachingKeyPort, LocalKeyPort }, { S3Client }] = await Promise.all([
    import("@gyre/core/context"),
    import("@gyre/core/secret/index"),
    import("@aws-sdk/client-s3"),
  ]);
  const s3 = new S3Client({
    region: LOCAL.region,
    endpoint: endpoints.s3,
    forcePathStyle: true,
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  const gyre = createGyre(
    {
      region: LOCAL.region,
      tableName: LOCAL.table,
      bucketName: LOCAL.bucket,
      intakeQueueUrl: "",
      jobQueueUrls: {},
      stateMachineArn: "",
      heartbeatSeconds: 30,
      queueTimeoutSeconds: 86_400,
      maxJobSeconds: 18_000,
      endpoints,
    },
    new CachingKeyPort(new LocalKeyPort(dataDir)),
    dataDir,
  );
  return {
    ...gyre,
    aws: Object.defineProperty(Object.create(gyre.aws), "s3", { value: s3 }) as typeof gyre.aws,
  };
}

/** The stand-ins of `dataDir`: its running Gyre's, or started here (and stopped by `close`). */
async function standInsOf(dataDir: string, print: Print) {
  const running = await runningGyre(dataDir);
  if (running) return { endpoints: running.endpoints, running: true, close: async () => {} };
  try {
    const started = await startStandIns({
      dynamodbPath: join(dataDir, "dynamodb"),
      s3Directory: join(dataDir, "s3"),
      bucket: LOCAL.bucket,
      queues: [],
    });
    return { endpoints: started.endpoints, running: false, close: started.close };
  } catch (error) {
    print(`No Gyre runs on ${dataDir} (no live ${RUNTIME_FILE}), and its store could not be opened.`);
    throw error;
  }
}

export interface BackupOptions {
  dataDir?: string;
  out?: string;
  /** Replace a file already at `out`. */
  force?: boolean;
  includeKey?: boolean;
  aws?: boolean;
  json?: boolean;
}

/**
 * Refuses an `--out` the backup could not write, before any work: a directory that does not
 * exist (it is not made: a mistyped path should not become a tree of directories), a directory
 * itself, or a file already there without `--force`.
 */
async function checkOut(out: string, force: boolean | undefined): Promise<void> {
  const dir = dirname(out);
  const parent = await stat(dir).catch(() => undefined);
  if (!parent)
    throw new Error(
      `--out ${out}: the directory ${dir} does not exist. Create it first, or give another --out.`,
    );
  if (!parent.isDirectory()) throw new Error(`--out ${out}: ${dir} is not a directory.`);
  const there = await lstat(out).catch(() => undefined);
  if (there?.isDirectory()) throw new Error(`--out ${out} is a directory: give the archive's file name.`);
  if (there && !force)
    throw new Error(`--out ${out} exists already: give another --out, or --force to replace it.`);
}

export async function backupCommand(
  options: BackupOptions,
  print: Print,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  if (options.aws) return awsBackup(options, print, env);
  const dataDir = resolve(options.dataDir ?? env.GYRE_DATA_DIR ?? DEFAULT_DATA_DIR);
  const entries = await readdir(dataDir).catch(() => undefined);
  if (!entries?.includes("dynamodb"))
    throw new Error(`${dataDir} is not a Gyre data directory (it has no dynamodb/): give --data-dir.`);
  const out = resolve(options.out ?? `gyre-backup-${stamp()}.tar.gz`);
  await checkOut(out, options.force);
  const { writeLocalBackup } = await import("@gyre/core/backup/local");
  const standIns = await standInsOf(dataDir, print);
  const gyre = await localGyre(dataDir, standIns.endpoints);
  try {
    const manifest = await writeLocalBackup(gyre, {
      dataDir,
      out,
      replace: options.force,
      includeKey: options.includeKey,
      whileRunning: standIns.running,
      gyreVersion: await gyreVersion(),
      log: options.json ? () => {} : (line) => print(`backup: ${line}`),
    });
    if (options.json) {
      print(json({ archive: out, ...manifest, entries: undefined }));
      return 0;
    }
    const c = manifest.counts;
    print(
      `Backed up ${c.items} item(s) and ${c.objects} object(s) (${c.object_bytes} bytes) of ${dataDir} into ${out}` +
        `${standIns.running ? ", while Gyre ran" : ""}.`,
    );
    if (c.in_flight_jobs > 0)
      print(
        `${c.in_flight_jobs} job(s) were queued or running: a restore ends them infrastructure_fail (rerun them).`,
      );
    if (manifest.key.included)
      print(
        `The master key is in the archive: anyone with ${out} can open its ${c.sealed_values} sealed value(s). Keep it as you keep the key.`,
      );
    else if (manifest.key.fingerprint)
      print(
        `The master key is not in the archive: its ${c.sealed_values} sealed value(s) open only with ${join(dataDir, "master.key")} ` +
          "(restore with --key), or back up with --include-key.",
      );
    return 0;
  } finally {
    gyre.aws.dynamo.destroy();
    gyre.aws.s3.destroy();
    await standIns.close();
  }
}

export interface RestoreOptions {
  dataDir?: string;
  key?: string;
  force?: boolean;
  /** Keep the backed-up installation's API tokens and sessions (dropped by default). */
  keepTokens?: boolean;
  json?: boolean;
  aws?: boolean;
  backupArn?: string;
  manifest?: string;
  /** `--aws --point-in-time`: the ISO time to restore the stage's table and bucket to, instead of a backup. */
  pointInTime?: string;
  stage?: string;
}

/**
 * What `--force` replaces in a Gyre data directory (a master.key stays: it is the backup's, or
 * the backup has no sealed values). Anything else there (builder-ca.pem, git-ca/, ...) stays.
 */
const REPLACED = [
  "dynamodb",
  "s3",
  "admin-token",
  "builder-token",
  RUNTIME_FILE,
  "work",
  "repos",
  "examples",
];

/**
 * A fresh admin and builder token for the restored installation's `admin` and `builder`
 * users (the archive holds no token: the table keeps only their digests). Without such a user
 * the file is left out, and `gyre start` makes the user as at a first start.
 */
async function issueLocalTokens(gyre: Awaited<ReturnType<typeof localGyre>>, dataDir: string) {
  const [{ createToken, UserSchema }, { queryAll }, { Index }] = await Promise.all([
    import("@gyre/core/auth/index"),
    import("@gyre/core/store/index"),
    import("@gyre/core/table"),
  ]);
  const issued: string[] = [];
  for (const [file, login, builder] of [
    ["admin-token", "admin", false],
    ["builder-token", "builder", true],
  ] as const) {
    const spec = { index: "gsi1" as const, partition: Index.users(), sort: { eq: login } };
    let found: { id: string } | undefined;
    for await (const user of queryAll(gyre, spec, UserSchema, "user"))
      if (Boolean(user.builder) === builder && (builder || user.admin) && !found) found = user;
    if (!found) continue;
    const token = await createToken(
      gyre,
      found.id,
      builder ? "local builders (restored)" : "local admin (restored)",
    );
    await writeFile(join(dataDir, file), `${token}\n`, { mode: 0o600, flag: "wx" });
    issued.push(file);
  }
  return issued;
}

export async function restoreCommand(
  archive: string | undefined,
  options: RestoreOptions,
  print: Print,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  if (options.aws) return awsRestore(options, print, env);
  if (options.pointInTime !== undefined)
    throw new Error(
      "--point-in-time restores a stage on AWS: gyre restore --aws --point-in-time <ISO time> --stage <new stage>. " +
        "Locally, restore an archive.",
    );
  if (!archive) throw new Error("gyre restore <archive> --data-dir <fresh dir>: which archive?");
  if (!options.dataDir)
    throw new Error(
      "gyre restore needs --data-dir <fresh dir>: the data directory to restore into (then: gyre start --data-dir <it>).",
    );
  const dataDir = resolve(options.dataDir);
  const path = resolve(archive);
  // Said first, before anything about the target: a mistyped archive name is the likelier slip.
  const { openArchive } = await import("@gyre/core/backup/archive");
  await (await openArchive(path)).close();
  const {
    verifyArchive,
    planKey,
    isFreshDataDir,
    isGyreDataDir,
    restoreLocalBackup,
    stagingDirFor,
    replaceDataDir,
  } = await import("@gyre/core/backup/local");
  const { settleRestoredJobs } = await import("@gyre/core/backup/settle");
  const { finishRestore } = await import("@gyre/core/backup/restored");
  if (await runningGyre(dataDir))
    throw new Error(
      `A Gyre is running on ${dataDir} (its ${RUNTIME_FILE}): stop it before restoring into it.`,
    );
  const fresh = await isFreshDataDir(dataDir);
  if (!fresh && !options.force)
    throw new Error(
      `${dataDir} is not empty: restore onto a fresh data directory, or give --force to replace its table, bucket and tokens.`,
    );
  if (!fresh && !(await isGyreDataDir(dataDir)))
    throw new Error(
      `${dataDir} is not empty and not a Gyre data directory (it has no dynamodb/ and no master.key): ` +
        "--force replaces only a Gyre data directory's table, bucket and tokens. Restore onto an empty or new directory.",
    );
  // Everything is checked before anything is written: a damaged archive or a wrong key writes nothing.
  const manifest = await verifyArchive(path);
  const key = await planKey(manifest, dataDir, options.key && resolve(options.key));
  if (!options.json)
    print(`restore: ${path} checked: ${manifest.entries.length} entries match their checksums`);
  // Restored beside the data directory, then moved into it: until the restore has succeeded
  // the directory is not touched, and a failure leaves it as it was.
  const staging = await stagingDirFor(dataDir);
  let standIns: Awaited<ReturnType<typeof startStandIns>> | undefined;
  let gyre: Awaited<ReturnType<typeof localGyre>> | undefined;
  const stop = async () => {
    gyre?.aws.dynamo.destroy();
    gyre?.aws.s3.destroy();
    gyre = undefined;
    const running = standIns;
    standIns = undefined;
    await running?.close().catch(() => undefined);
  };
  let swapping = false;
  try {
    // The target's key (the backup's, or the backup has no sealed values) goes along: the
    // settle opens sealed values with the staging directory's key, and it replaces the target's.
    const targetKey = join(dataDir, "master.key");
    if (await isFile(targetKey)) {
      await copyFile(targetKey, join(staging, "master.key"), constants.COPYFILE_EXCL);
      await chmod(join(staging, "master.key"), 0o600);
    }
    standIns = await startStandIns({
      dynamodbPath: join(staging, "dynamodb"),
      s3Directory: join(staging, "s3"),
      bucket: LOCAL.bucket,
      queues: [],
    });
    gyre = await localGyre(staging, standIns.endpoints);
    const restored = await restoreLocalBackup(gyre, path, manifest, {
      dataDir: staging,
      key,
      log: options.json ? () => {} : (line) => print(`restore: ${line}`),
    });
    const settled = await settleRestoredJobs(gyre, { backupCreatedAt: manifest.created_at });
    const credentials = await finishRestore(gyre, {
      keepTokens: options.keepTokens,
      installation: { id: dataDir, name: "local" },
      via: "gyre restore",
      backup: {
        created_at: manifest.created_at,
        gyre_version: manifest.gyre_version,
        data_dir: manifest.source.data_dir,
      },
      restored: { items: restored.items, objects: restored.objects, interrupted_jobs: settled.interrupted },
    });
    // After the drop: the new local tokens are the restored installation's own.
    const tokens = await issueLocalTokens(gyre, staging);
    await stop();
    if (await runningGyre(dataDir))
      throw new Error(`A Gyre started on ${dataDir} during the restore: stop it, then restore again.`);
    swapping = true;
    await replaceDataDir(staging, dataDir, REPLACED);
    const report = {
      data_dir: dataDir,
      backup_created_at: manifest.created_at,
      items: restored.items,
      objects: restored.objects,
      key: restored.key,
      interrupted_jobs: settled.interrupted,
      workflows_left_to_reconciler: settled.workflowsLeft,
      failures: settled.failures,
      credentials: credentialsJson(credentials),
      tokens,
    };
    if (options.json) print(json(report));
    else {
      print(
        `Restored ${restored.items} item(s) and ${restored.objects} object(s) from the backup of ${manifest.created_at} into ${dataDir}.`,
      );
      if (settled.interrupted > 0)
        print(
          `${settled.interrupted} job(s) in flight at backup time now end infrastructure_fail ("interrupted by a restore").`,
        );
      for (const failure of settled.failures)
        print(`restore: could not settle ${failure} (the reconciler retries)`);
      print(credentialsLine(credentials));
      if (tokens.includes("admin-token")) print(`A new admin token is in ${join(dataDir, "admin-token")}.`);
      print(`Start it:  gyre start --data-dir ${dataDir}`);
    }
    return 0;
  } catch (error) {
    // Nothing half-restored is left behind, and the data directory is as it was
    // (replaceDataDir removes the staging directory itself once it has started).
    await stop();
    if (!swapping) await rm(staging, { recursive: true, force: true });
    throw error;
  } finally {
    await stop();
  }
}

const credentialsJson = (dropped: DroppedCredentials | undefined) =>
  dropped
    ? {
        kept: false,
        tokens_dropped: dropped.tokens,
        sessions_dropped: dropped.sessions,
        sign_ins_dropped: dropped.signIns,
        nodes_dropped: dropped.nodes,
      }
    : { kept: true };

/** What became of the backed-up installation's tokens and sessions, in a sentence. */
const credentialsLine = (dropped: DroppedCredentials | undefined) =>
  dropped
    ? `The backup's ${dropped.tokens} API token(s) (personal, project, operator), ${dropped.sessions} session(s) and ${dropped.nodes} builder node(s) were dropped: ` +
      "they do not work here. Sign in again and make new tokens; builders register again with this installation's join token (or restore with --keep-tokens to keep them)."
    : "The backup's API tokens and sessions were kept (--keep-tokens): they work here as they did on the installation backed up.";

const isFile = (path: string) =>
  stat(path).then(
    (s) => s.isFile(),
    () => false,
  );

/** The stage's resources from its SST links (`npx sst shell --stage S -- ...`). */
async function stageResources(env: NodeJS.ProcessEnv, command: string) {
  const { resourcesFromEnv, LinkNames } = await import("@gyre/core/resources");
  const resources = resourcesFromEnv(env);
  try {
    void resources.tableName;
    void resources.bucketName;
  } catch {
    throw new Error(
      `SST_RESOURCE_${LinkNames.table} / SST_RESOURCE_${LinkNames.bucket} are not set: run this in the stage's shell, ` +
        `with AWS credentials for its account: npx sst shell --stage <stage> -- npx gyre ${command}`,
    );
  }
  const optional = <T>(read: () => T): T | undefined => {
    try {
      return read();
    } catch {
      return undefined;
    }
  };
  return {
    resources,
    kmsKeyId: optional(() => resources.kmsKeyId),
    stage: optional(() => resources.stage) ?? env.SST_STAGE,
  };
}

async function awsClients(region: string) {
  const [{ DynamoDBClient }, { S3Client }] = await Promise.all([
    import("@aws-sdk/client-dynamodb"),
    import("@aws-sdk/client-s3"),
  ]);
  return { dynamodb: new DynamoDBClient({ region }), s3: new S3Client({ region }) };
}

async function awsBackup(options: BackupOptions, print: Print, env: NodeJS.ProcessEnv): Promise<number> {
  if (options.includeKey)
    throw new Error("--include-key is for the local runtime: on AWS the KMS key stays in the account.");
  const { resources, kmsKeyId, stage } = await stageResources(env, "backup --aws");
  const given = options.out && resolve(options.out);
  if (given) await checkOut(given, options.force);
  const { createAwsBackup } = await import("@gyre/core/backup/aws");
  const clients = await awsClients(resources.region);
  const manifest = await createAwsBackup(clients, {
    tableName: resources.tableName,
    bucketName: resources.bucketName,
    kmsKeyId,
    stage,
    gyreVersion: await gyreVersion(),
    log: options.json ? () => {} : (line) => print(`backup: ${line}`),
  });
  const out = given || resolve(`${manifest.table.backup_name}.json`);
  // A copy is in the bucket already (backups/...): a manifest file here is not overwritten unasked.
  await writeFile(out, json(manifest), { flag: options.force ? "w" : "wx" });
  if (options.json) {
    print(json({ manifest: out, ...manifest, objects: undefined }));
    return 0;
  }
  print(`On-demand backup ${manifest.table.backup_arn} of ${manifest.table.name}.`);
  print(
    `Manifest of ${manifest.counts.objects} object version(s) as of ${manifest.created_at}: ${out} ` +
      `(also s3://${manifest.bucket.name}/backups/${manifest.table.backup_name}.json).`,
  );
  print(
    `Restore into a new stage:  npx gyre restore --aws --backup-arn ${manifest.table.backup_arn} --manifest ${out} --stage <new stage>`,
  );
  return 0;
}

async function readAwsManifest(source: string, region: string) {
  const { parseAwsManifest } = await import("@gyre/core/backup/aws");
  const s3 = /^s3:\/\/([^/]+)\/(.+)$/.exec(source);
  if (!s3) return parseAwsManifest(JSON.parse(await readFile(source, "utf8")));
  const { S3Client, GetObjectCommand } = await import("@aws-sdk/client-s3");
  const client = new S3Client({ region });
  try {
    const out = await client.send(new GetObjectCommand({ Bucket: s3[1], Key: s3[2] }));
    return parseAwsManifest(JSON.parse((await out.Body?.transformToString("utf8")) ?? "null"));
  } finally {
    client.destroy();
  }
}

async function awsRestore(options: RestoreOptions, print: Print, env: NodeJS.ProcessEnv): Promise<number> {
  if (options.pointInTime !== undefined) return awsPointInTimeRestore(options, print, env);
  if (!options.backupArn || !options.stage || !options.manifest)
    throw new Error(
      "gyre restore --aws needs --backup-arn <arn> --manifest <file or s3://bucket/backups/...json> --stage <new stage>, " +
        "or --point-in-time <ISO time> --stage <new stage>.",
    );
  const region =
    env.AWS_REGION ??
    env.AWS_DEFAULT_REGION ??
    /^arn:aws[^:]*:dynamodb:([^:]+):/.exec(options.backupArn)?.[1];
  if (!region) throw new Error("Set AWS_REGION to the region of the backup.");
  const manifest = await readAwsManifest(options.manifest, region);
  const { restoreAwsBackup } = await import("@gyre/core/backup/aws");
  const into = stageRestore(options, print, options.stage, region, manifest.kms_key_id, {
    createdAt: manifest.created_at,
    via: "gyre restore --aws",
    backup: {
      created_at: manifest.created_at,
      backup_arn: options.backupArn,
      table: manifest.table.name,
      stage: manifest.stage,
    },
    restored: () => ({ objects_in_manifest: manifest.counts.objects }),
  });
  const report = await restoreAwsBackup(await awsClients(region), {
    backupArn: options.backupArn,
    manifest,
    stage: options.stage,
    region,
    log: into.log,
    settle: into.settle,
  });
  into.report(report, { objectsOf: "the manifest", inFlight: "at backup time" });
  return 0;
}

/**
 * `gyre restore --aws --point-in-time <time> --stage <new>`, in the shell of the stage whose
 * table and bucket are restored as they were at that time (core/src/backup/aws.ts).
 */
async function awsPointInTimeRestore(
  options: RestoreOptions,
  print: Print,
  env: NodeJS.ProcessEnv,
): Promise<number> {
  if (options.backupArn || options.manifest)
    throw new Error(
      "--point-in-time restores the stage's table and bucket as they were then, from no backup: " +
        "give it without --backup-arn and --manifest (or those two without --point-in-time).",
    );
  if (!options.stage)
    throw new Error(
      "gyre restore --aws --point-in-time <ISO time> needs --stage <new stage>: the stage to restore into.",
    );
  const { parsePointInTime, restoreAwsPointInTime } = await import("@gyre/core/backup/aws");
  const at = parsePointInTime(options.pointInTime ?? "");
  const time = new Date(at).toISOString();
  const { resources, kmsKeyId, stage } = await stageResources(
    env,
    "restore --aws --point-in-time <ISO time> --stage <new stage>",
  );
  const into = stageRestore(options, print, options.stage, resources.region, kmsKeyId ?? null, {
    createdAt: time,
    via: "gyre restore --aws --point-in-time",
    backup: {
      point_in_time: time,
      table: resources.tableName,
      bucket: resources.bucketName,
      stage: stage ?? null,
    },
    restored: (restored) => ({ objects: restored.copied, objects_skipped: restored.skipped.length }),
  });
  const report = await restoreAwsPointInTime(await awsClients(resources.region), {
    tableName: resources.tableName,
    bucketName: resources.bucketName,
    kmsKeyId,
    at,
    stage: options.stage,
    region: resources.region,
    log: into.log,
    settle: into.settle,
  });
  into.report(report, {
    objectsOf: time,
    inFlight: `at ${time}`,
    from: `${resources.tableName} and ${resources.bucketName} as they were at ${time}`,
  });
  return 0;
}

/**
 * What both AWS restores do around the core's restore: the settle step on the restored table
 * (its in-flight jobs settled, its credentials dropped unless --keep-tokens, the restore
 * recorded), and the report with the stage's adoption instructions.
 */
function stageRestore(
  options: RestoreOptions,
  print: Print,
  stage: string,
  region: string,
  kmsKeyId: string | null,
  record: {
    /** When the restored installation was as it now is (a backup's time, or the point in time). */
    createdAt: string;
    via: string;
    backup: Record<string, unknown>;
    restored: (restored: AwsRestored) => Record<string, unknown>;
  },
) {
  let credentials: DroppedCredentials | undefined;
  const settle = async (restored: AwsRestored) => {
    const [{ settleRestoredJobs }, { finishRestore }, { createGyre }, { KmsKeyPort }] = await Promise.all([
      import("@gyre/core/backup/settle"),
      import("@gyre/core/backup/restored"),
      import("@gyre/core/context"),
      import("@gyre/core/secret/kms-key-port"),
    ]);
    // The settle pass reads and writes the restored table and bucket (the interrupted steps'
    // output; and opens a project's GitHub token with the old stage's key to report a
    // workflow's status); it starts nothing.
    const keys = new KmsKeyPort({ keyId: kmsKeyId ?? "", clientConfig: { region } });
    const gyre = createGyre(
      {
        region,
        tableName: restored.tableName,
        bucketName: restored.bucketName,
        intakeQueueUrl: "",
        jobQueueUrls: {},
        stateMachineArn: "",
        heartbeatSeconds: 60,
        queueTimeoutSeconds: 86_400,
        maxJobSeconds: 18_000,
      },
      keys,
      tmpdir(),
    );
    try {
      const settled = await settleRestoredJobs(gyre, { backupCreatedAt: record.createdAt });
      credentials = await finishRestore(gyre, {
        keepTokens: options.keepTokens,
        installation: { id: restored.tableName, name: stage },
        via: record.via,
        backup: record.backup,
        restored: { ...record.restored(restored), interrupted_jobs: settled.interrupted },
      });
      return settled;
    } finally {
      gyre.aws.dynamo.destroy();
      gyre.aws.s3.destroy();
    }
  };
  const report = (
    report: AwsRestoreReport,
    words: { objectsOf: string; inFlight: string; from?: string },
  ) => {
    const adopt = [
      `GYRE_ADOPT_TABLE=${report.tableName}`,
      `GYRE_ADOPT_BUCKET=${report.bucketName}`,
      ...(report.kmsKeyId ? [`GYRE_ADOPT_DATA_KEY=${report.kmsKeyId}`] : []),
    ].join(" ");
    if (options.json) {
      print(
        json({
          ...report,
          ...(options.pointInTime !== undefined ? { point_in_time: record.createdAt } : {}),
          credentials: credentialsJson(credentials),
          deploy: `${adopt} npx sst deploy --stage ${stage}`,
        }),
      );
      return;
    }
    print(
      `Restored table ${report.tableName} and bucket ${report.bucketName} (${report.copied} object(s))` +
        `${words.from ? ` from ${words.from}` : ""}.`,
    );
    if (report.skipped.length > 0) {
      print(
        `${report.skipped.length} object(s) of ${words.objectsOf} were not restored: their versions are gone ` +
          "(the bucket keeps a replaced or deleted object's old version 35 days):",
      );
      for (const key of report.skipped.slice(0, 20)) print(`  ${key}`);
      if (report.skipped.length > 20)
        print(`  ... and ${report.skipped.length - 20} more (--json lists them all)`);
    }
    if (report.interrupted > 0)
      print(
        `${report.interrupted} job(s) in flight ${words.inFlight} now end infrastructure_fail ("interrupted by a restore").`,
      );
    print(credentialsLine(credentials));
    if (credentials)
      print(
        "  Administrators sign in again (GitHub or LDAP) for a token; with no way to sign in:  " +
          `npx sst shell --stage ${stage} -- npx gyre admin bootstrap --force --login <a new login>`,
      );
    print(`Deploy the stage onto them (its stack adopts both, and the old stage's KMS key):`);
    print(`  ${adopt} npx sst deploy --stage ${stage}`);
  };
  return { settle, report, log: options.json ? () => {} : (line: string) => print(`restore: ${line}`) };
}
