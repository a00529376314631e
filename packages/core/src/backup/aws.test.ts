/**
 * The AWS backup and restore at the SDK boundary: DynamoDB backups, S3 versions and copies
 * have no local stand-in, so the clients are aws-sdk-client-mock's and the tests check what
 * is sent and what is made of the answers.
 */
import {
  CreateBackupCommand,
  DescribeBackupCommand,
  DescribeContinuousBackupsCommand,
  DescribeTableCommand,
  DynamoDBClient,
  RestoreTableFromBackupCommand,
  RestoreTableToPointInTimeCommand,
  UpdateContinuousBackupsCommand,
  UpdateTimeToLiveCommand,
} from "@aws-sdk/client-dynamodb";
import {
  CopyObjectCommand,
  CreateBucketCommand,
  GetBucketVersioningCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  PutPublicAccessBlockCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import {
  type AwsManifest,
  type AwsRestored,
  createAwsBackup,
  parsePointInTime,
  pointInTimeSource,
  restoreAwsBackup,
  restoreAwsPointInTime,
  restoredNames,
  versionsAt,
} from "./aws.ts";

const dynamodb = mockClient(DynamoDBClient);
const s3 = mockClient(S3Client);
const clients = () => ({ dynamodb: new DynamoDBClient({}), s3: new S3Client({}) });

const T = Date.parse("2026-03-01T12:00:00Z");
const at = (offsetS: number) => new Date(T + offsetS * 1000);
const ARN = "arn:aws:dynamodb:eu-west-1:111122223333:table/gyre-prod-Table/backup/01700000000000-abcdef";

beforeEach(() => {
  dynamodb.reset();
  s3.reset();
});

/** What AWS answers a restore making its table (ACTIVE after a first look) and bucket, copies included. */
function answerRestoredStorage() {
  dynamodb
    .on(DescribeTableCommand)
    .resolvesOnce({ Table: { TableStatus: "CREATING" } })
    .resolves({ Table: { TableStatus: "ACTIVE" } });
  dynamodb.on(UpdateTimeToLiveCommand).resolves({});
  dynamodb.on(UpdateContinuousBackupsCommand).resolves({});
  s3.on(CreateBucketCommand).resolves({});
  s3.on(PutPublicAccessBlockCommand).resolves({});
  s3.on(PutBucketVersioningCommand).resolves({});
  s3.on(CopyObjectCommand).resolves({});
}

describe("gyre backup --aws (aws-sdk-client-mock: no stand-in exists for DynamoDB backups)", () => {
  it("takes an on-demand backup and names each object's version current at that moment", async () => {
    s3.on(GetBucketVersioningCommand).resolves({ Status: "Enabled" });
    dynamodb.on(CreateBackupCommand).resolves({
      BackupDetails: {
        BackupArn: ARN,
        BackupName: "x",
        BackupStatus: "CREATING",
        BackupCreationDateTime: at(0),
        BackupType: "USER",
      },
    });
    s3.on(ListObjectVersionsCommand)
      .resolvesOnce({
        IsTruncated: true,
        NextKeyMarker: "output/j1/1/0/0000/00000000",
        NextVersionIdMarker: "v2",
        Versions: [
          { Key: "artifacts/j1/1/0/a.txt", VersionId: "a1", LastModified: at(-60), Size: 5, ETag: '"e1"' },
          // steps.json rewritten while the job ran, and once more after the backup: the one before it counts.
          { Key: "output/j1/1/0/steps.json", VersionId: "s2", LastModified: at(-1), Size: 20 },
          { Key: "output/j1/1/0/steps.json", VersionId: "s1", LastModified: at(-30), Size: 10 },
          { Key: "output/j1/1/0/steps.json", VersionId: "s3", LastModified: at(5), Size: 30 },
        ],
      })
      .resolvesOnce({
        IsTruncated: false,
        Versions: [
          { Key: "caches/gh/a/b/k.tar.gz", VersionId: "c1", LastModified: at(-100), Size: 7 },
          // Written only after the backup: the table does not know it.
          { Key: "output/j2/1/0/steps.json", VersionId: "n1", LastModified: at(10), Size: 3 },
        ],
        // Deleted before the backup (a cleared cache): not in the backup.
        DeleteMarkers: [{ Key: "caches/gh/a/b/k.tar.gz", VersionId: "d1", LastModified: at(-50) }],
      });
    s3.on(PutObjectCommand).resolves({});

    const manifest = await createAwsBackup(clients(), {
      tableName: "gyre-prod-Table",
      bucketName: "gyre-prod-bucket",
      kmsKeyId: "key-1",
      stage: "prod",
      gyreVersion: "test",
      now: () => T,
    });
    expect(dynamodb.commandCalls(CreateBackupCommand)[0]!.args[0].input).toEqual({
      TableName: "gyre-prod-Table",
      BackupName: "gyre-prod-20260301T120000Z",
    });
    expect(manifest.table.backup_arn).toBe(ARN);
    expect(manifest.objects).toEqual([
      { key: "artifacts/j1/1/0/a.txt", version_id: "a1", size: 5, etag: '"e1"' },
      { key: "output/j1/1/0/steps.json", version_id: "s2", size: 20 },
    ]);
    expect(manifest.counts).toEqual({ objects: 2, object_bytes: 25 });
    expect(manifest.kms_key_id).toBe("key-1");
    // The second page was asked from where the first ended.
    expect(s3.commandCalls(ListObjectVersionsCommand)[1]!.args[0].input).toMatchObject({
      KeyMarker: "output/j1/1/0/0000/00000000",
      VersionIdMarker: "v2",
    });
    // The manifest is kept in the bucket too, under backups/.
    const put = s3.commandCalls(PutObjectCommand)[0]!.args[0].input;
    expect(put.Key).toBe("backups/gyre-prod-20260301T120000Z.json");
    expect(JSON.parse(String(put.Body)).table.backup_arn).toBe(ARN);
  });

  it("refuses a bucket without versioning, before any backup is made", async () => {
    s3.on(GetBucketVersioningCommand).resolves({});
    await expect(
      createAwsBackup(clients(), { tableName: "t", bucketName: "b", gyreVersion: "test" }),
    ).rejects.toThrow(/does not keep object versions.*Deploy the stage again/);
    expect(dynamodb.commandCalls(CreateBackupCommand)).toHaveLength(0);
  });

  it("reads versions page by page", async () => {
    s3.on(ListObjectVersionsCommand).resolves({
      Versions: [{ Key: "a", VersionId: "1", LastModified: at(0) }],
    });
    expect(await versionsAt(new S3Client({}), "b", T)).toEqual([{ key: "a", version_id: "1", size: 0 }]);
  });
});

describe("gyre restore --aws (aws-sdk-client-mock)", () => {
  const manifest: AwsManifest = {
    format: "gyre-aws-backup",
    version: 1,
    gyre_version: "test",
    stage: "prod",
    created_at: at(0).toISOString(),
    table: { name: "gyre-prod-Table", backup_arn: ARN, backup_name: "gyre-prod-20260301T120000Z" },
    bucket: { name: "gyre-prod-bucket" },
    kms_key_id: "key-1",
    counts: { objects: 2, object_bytes: 25 },
    objects: [
      { key: "artifacts/j1/1/0/a b.txt", version_id: "a1", size: 5 },
      { key: "output/j1/1/0/steps.json", version_id: "s2", size: 20 },
    ],
  };

  it("restores the table under the new stage's name, copies every object at its version and settles", async () => {
    dynamodb.on(DescribeBackupCommand).resolves({
      BackupDescription: {
        BackupDetails: {
          BackupArn: ARN,
          BackupName: "n",
          BackupStatus: "AVAILABLE",
          BackupCreationDateTime: at(0),
          BackupType: "USER",
        },
      },
    });
    dynamodb.on(RestoreTableFromBackupCommand).resolves({});
    answerRestoredStorage();
    const settled: string[] = [];

    const report = await restoreAwsBackup(clients(), {
      backupArn: ARN,
      manifest,
      stage: "dr",
      region: "eu-west-1",
      pollMs: 1,
      settle: async ({ tableName }) => {
        settled.push(tableName);
        return { interrupted: 3 };
      },
    });
    const names = restoredNames("gyre", "dr", ARN);
    expect(report).toEqual({
      tableName: names.table,
      bucketName: names.bucket,
      copied: 2,
      skipped: [],
      interrupted: 3,
      kmsKeyId: "key-1",
    });
    expect(names.table).toMatch(/^gyre-dr-table-[0-9a-f]{8}$/);
    expect(dynamodb.commandCalls(RestoreTableFromBackupCommand)[0]!.args[0].input).toEqual({
      TargetTableName: names.table,
      BackupArn: ARN,
    });
    expect(dynamodb.commandCalls(UpdateTimeToLiveCommand)[0]!.args[0].input.TimeToLiveSpecification).toEqual({
      AttributeName: "expiresAt",
      Enabled: true,
    });
    expect(
      dynamodb.commandCalls(UpdateContinuousBackupsCommand)[0]!.args[0].input
        .PointInTimeRecoverySpecification,
    ).toEqual({ PointInTimeRecoveryEnabled: true });
    expect(s3.commandCalls(CreateBucketCommand)[0]!.args[0].input).toEqual({
      Bucket: names.bucket,
      CreateBucketConfiguration: { LocationConstraint: "eu-west-1" },
    });
    expect(s3.commandCalls(PutBucketVersioningCommand)[0]!.args[0].input.VersioningConfiguration).toEqual({
      Status: "Enabled",
    });
    const copies = s3.commandCalls(CopyObjectCommand).map((c) => c.args[0].input);
    expect(copies).toContainEqual({
      Bucket: names.bucket,
      Key: "artifacts/j1/1/0/a b.txt",
      CopySource: "gyre-prod-bucket/artifacts/j1/1/0/a%20b.txt?versionId=a1",
      MetadataDirective: "COPY",
    });
    expect(copies).toHaveLength(2);
    expect(settled).toEqual([names.table]);
  });

  it("resumes when the table exists already (a rerun), and refuses a backup not yet available", async () => {
    dynamodb.on(DescribeBackupCommand).resolvesOnce({
      BackupDescription: {
        BackupDetails: {
          BackupArn: ARN,
          BackupName: "n",
          BackupStatus: "CREATING",
          BackupCreationDateTime: at(0),
          BackupType: "USER",
        },
      },
    });
    await expect(
      restoreAwsBackup(clients(), { backupArn: ARN, manifest, stage: "dr", region: "us-east-1" }),
    ).rejects.toThrow(/is CREATING, not AVAILABLE/);

    dynamodb.on(DescribeBackupCommand).resolves({
      BackupDescription: {
        BackupDetails: {
          BackupArn: ARN,
          BackupName: "n",
          BackupStatus: "AVAILABLE",
          BackupCreationDateTime: at(0),
          BackupType: "USER",
        },
      },
    });
    const exists = new Error("Table already exists");
    exists.name = "TableAlreadyExistsException";
    dynamodb.on(RestoreTableFromBackupCommand).rejects(exists);
    dynamodb.on(DescribeTableCommand).resolves({ Table: { TableStatus: "ACTIVE" } });
    const ttlOn = new Error("TimeToLive is already enabled");
    ttlOn.name = "ValidationException";
    dynamodb.on(UpdateTimeToLiveCommand).rejects(ttlOn);
    dynamodb.on(UpdateContinuousBackupsCommand).resolves({});
    s3.on(PutPublicAccessBlockCommand).resolves({});
    s3.on(PutBucketVersioningCommand).resolves({});
    s3.on(CopyObjectCommand).resolves({});
    const owned = new Error("owned");
    owned.name = "BucketAlreadyOwnedByYou";
    s3.on(CreateBucketCommand).rejects(owned);
    const report = await restoreAwsBackup(clients(), {
      backupArn: ARN,
      manifest,
      stage: "dr",
      region: "us-east-1",
    });
    expect(report.copied).toBe(2);
    // us-east-1 takes no location constraint.
    expect(s3.commandCalls(CreateBucketCommand)[0]!.args[0].input).toEqual({ Bucket: report.bucketName });
  });

  it("skips, and reports, objects whose version has expired (NoSuchVersion / NoSuchKey), and stops on any other error", async () => {
    dynamodb.on(DescribeBackupCommand).resolves({
      BackupDescription: {
        BackupDetails: {
          BackupArn: ARN,
          BackupName: "n",
          BackupStatus: "AVAILABLE",
          BackupCreationDateTime: at(0),
          BackupType: "USER",
        },
      },
    });
    dynamodb.on(RestoreTableFromBackupCommand).resolves({});
    dynamodb.on(DescribeTableCommand).resolves({ Table: { TableStatus: "ACTIVE" } });
    dynamodb.on(UpdateTimeToLiveCommand).resolves({});
    dynamodb.on(UpdateContinuousBackupsCommand).resolves({});
    s3.on(CreateBucketCommand).resolves({});
    s3.on(PutPublicAccessBlockCommand).resolves({});
    s3.on(PutBucketVersioningCommand).resolves({});
    const gone = (name: string) => Object.assign(new Error(`The specified ${name}`), { name });
    const objects = [
      { key: "artifacts/j1/1/0/kept.txt", version_id: "k1", size: 1 },
      { key: "output/j1/1/0/steps.json", version_id: "old", size: 2 },
      { key: "caches/gh/a/b/k.tar.gz", version_id: "c1", size: 3 },
      { key: "tests/j1/1/0.json", version_id: "t1", size: 4 },
    ];
    const withGaps = { ...manifest, counts: { objects: 4, object_bytes: 10 }, objects };
    s3.on(CopyObjectCommand).resolves({});
    s3.on(CopyObjectCommand, { Key: "output/j1/1/0/steps.json" }).rejects(gone("NoSuchVersion"));
    s3.on(CopyObjectCommand, { Key: "caches/gh/a/b/k.tar.gz" }).rejects(gone("NoSuchKey"));
    const lines: string[] = [];
    const report = await restoreAwsBackup(clients(), {
      backupArn: ARN,
      manifest: withGaps,
      stage: "dr",
      region: "us-east-1",
      concurrency: 2,
      log: (line) => lines.push(line),
    });
    // Every object was tried; the two whose versions are gone are named, the others copied.
    expect(s3.commandCalls(CopyObjectCommand)).toHaveLength(4);
    expect(report.copied).toBe(2);
    expect(report.skipped).toEqual(["caches/gh/a/b/k.tar.gz", "output/j1/1/0/steps.json"]);
    expect(lines).toContain("bucket: skipped output/j1/1/0/steps.json: its version old is gone (expired)");
    expect(lines.at(-1)).toMatch(/2 object\(s\) copied into .*, 2 skipped \(their versions are gone\)/);

    // Any other failure (access denied, throttling, a missing bucket) ends the restore.
    s3.reset();
    s3.on(CreateBucketCommand).resolves({});
    s3.on(PutPublicAccessBlockCommand).resolves({});
    s3.on(PutBucketVersioningCommand).resolves({});
    s3.on(CopyObjectCommand).resolves({});
    s3.on(CopyObjectCommand, { Key: "tests/j1/1/0.json" }).rejects(
      Object.assign(new Error("Access Denied"), { name: "AccessDenied" }),
    );
    await expect(
      restoreAwsBackup(clients(), { backupArn: ARN, manifest: withGaps, stage: "dr", region: "us-east-1" }),
    ).rejects.toThrow(/Access Denied/);
  });

  it("refuses a manifest of another backup", async () => {
    await expect(
      restoreAwsBackup(clients(), { backupArn: `${ARN}x`, manifest, stage: "dr", region: "us-east-1" }),
    ).rejects.toThrow(/The manifest is of backup/);
    expect(dynamodb.calls()).toHaveLength(0);
  });
});

describe("gyre restore --aws --point-in-time (aws-sdk-client-mock: no stand-in exists for point-in-time recovery)", () => {
  const DAY = 86_400_000;
  /** Now, for these tests: the point in time is an hour before. */
  const NOW = T + 3600_000;
  const recovery = (earliest: Date, latest: Date, status = "ENABLED" as const) => ({
    ContinuousBackupsDescription: {
      ContinuousBackupsStatus: "ENABLED" as const,
      PointInTimeRecoveryDescription: {
        PointInTimeRecoveryStatus: status,
        EarliestRestorableDateTime: earliest,
        LatestRestorableDateTime: latest,
      },
    },
  });
  const options = (at: number) => ({
    tableName: "gyre-prod-Table",
    bucketName: "gyre-prod-bucket",
    kmsKeyId: "key-1",
    at,
    stage: "dr",
    region: "eu-west-1",
    pollMs: 1,
    now: () => NOW,
  });
  /** What a restore that gets past its checks is answered. */
  const restorable = () => {
    dynamodb
      .on(DescribeContinuousBackupsCommand)
      .resolves(recovery(new Date(NOW - 20 * DAY), new Date(NOW - 300_000)));
    s3.on(GetBucketVersioningCommand).resolves({ Status: "Enabled" });
    dynamodb.on(RestoreTableToPointInTimeCommand).resolves({});
    answerRestoredStorage();
  };

  it("restores the table as it was then into the new stage's name and copies each key's version of that time, then settles", async () => {
    restorable();
    s3.on(ListObjectVersionsCommand).resolves({
      Versions: [
        // Rewritten after the time: the version before it is the one.
        { Key: "output/j1/1/0/steps.json", VersionId: "s1", LastModified: at(-30), Size: 10 },
        { Key: "output/j1/1/0/steps.json", VersionId: "s2", LastModified: at(0), Size: 20 },
        { Key: "output/j1/1/0/steps.json", VersionId: "s3", LastModified: at(60), Size: 30 },
        // Deleted before the time (a cleared cache): not restored.
        { Key: "caches/gh/a/b/k.tar.gz", VersionId: "c1", LastModified: at(-100), Size: 7 },
        // Deleted only after the time: restored.
        { Key: "artifacts/j1/1/0/a b.txt", VersionId: "a1", LastModified: at(-60), Size: 5 },
        // Written only after the time: the restored table does not know it.
        { Key: "output/j2/1/0/steps.json", VersionId: "n1", LastModified: at(10), Size: 3 },
      ],
      DeleteMarkers: [
        { Key: "caches/gh/a/b/k.tar.gz", VersionId: "d1", LastModified: at(-50) },
        { Key: "artifacts/j1/1/0/a b.txt", VersionId: "d2", LastModified: at(30) },
      ],
    });
    const settled: AwsRestored[] = [];
    const lines: string[] = [];
    const report = await restoreAwsPointInTime(clients(), {
      ...options(T),
      log: (line) => lines.push(line),
      settle: async (restored) => {
        settled.push(restored);
        return { interrupted: 2 };
      },
    });

    const names = restoredNames("gyre", "dr", pointInTimeSource("gyre-prod-Table", T));
    expect(names).toEqual(restoredNames("gyre", "dr", "gyre-prod-Table@2026-03-01T12:00:00.000Z"));
    expect(names.table).toMatch(/^gyre-dr-table-[0-9a-f]{8}$/);
    // Another time is another restore, with other names; the same time again resumes this one.
    expect(restoredNames("gyre", "dr", pointInTimeSource("gyre-prod-Table", T + 1000)).table).not.toBe(
      names.table,
    );
    expect(report).toEqual({
      tableName: names.table,
      bucketName: names.bucket,
      copied: 2,
      skipped: [],
      interrupted: 2,
      kmsKeyId: "key-1",
    });
    expect(dynamodb.commandCalls(DescribeContinuousBackupsCommand)[0]!.args[0].input).toEqual({
      TableName: "gyre-prod-Table",
    });
    expect(dynamodb.commandCalls(RestoreTableToPointInTimeCommand).map((c) => c.args[0].input)).toEqual([
      { SourceTableName: "gyre-prod-Table", TargetTableName: names.table, RestoreDateTime: new Date(T) },
    ]);
    // As the backup path does: TTL and point-in-time recovery on, a versioned private bucket.
    expect(dynamodb.commandCalls(UpdateTimeToLiveCommand)[0]!.args[0].input).toEqual({
      TableName: names.table,
      TimeToLiveSpecification: { AttributeName: "expiresAt", Enabled: true },
    });
    expect(dynamodb.commandCalls(UpdateContinuousBackupsCommand)[0]!.args[0].input).toEqual({
      TableName: names.table,
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
    expect(s3.commandCalls(CreateBucketCommand)[0]!.args[0].input).toEqual({
      Bucket: names.bucket,
      CreateBucketConfiguration: { LocationConstraint: "eu-west-1" },
    });
    expect(s3.commandCalls(PutBucketVersioningCommand)[0]!.args[0].input.VersioningConfiguration).toEqual({
      Status: "Enabled",
    });
    expect(s3.commandCalls(ListObjectVersionsCommand)[0]!.args[0].input.Bucket).toBe("gyre-prod-bucket");
    const copies = s3.commandCalls(CopyObjectCommand).map((c) => c.args[0].input);
    expect(copies.sort((a, b) => String(a.Key).localeCompare(String(b.Key)))).toEqual([
      {
        Bucket: names.bucket,
        Key: "artifacts/j1/1/0/a b.txt",
        CopySource: "gyre-prod-bucket/artifacts/j1/1/0/a%20b.txt?versionId=a1",
        MetadataDirective: "COPY",
      },
      {
        Bucket: names.bucket,
        Key: "output/j1/1/0/steps.json",
        CopySource: "gyre-prod-bucket/output/j1/1/0/steps.json?versionId=s2",
        MetadataDirective: "COPY",
      },
    ]);
    expect(settled).toEqual([{ tableName: names.table, bucketName: names.bucket, copied: 2, skipped: [] }]);
    expect(lines).toContain("bucket: 2 object version(s) as of 2026-03-01T12:00:00.000Z");
    expect(lines).toContain(
      `table: restoring gyre-prod-Table as of 2026-03-01T12:00:00.000Z into ${names.table}`,
    );
  });

  it("refuses a time in the future, older than the bucket keeps versions, or outside the table's recovery window, making nothing", async () => {
    const refused = async (at: number, message: string) => {
      await expect(restoreAwsPointInTime(clients(), options(at))).rejects.toThrow(message);
      expect(dynamodb.commandCalls(RestoreTableToPointInTimeCommand)).toHaveLength(0);
      expect(s3.commandCalls(ListObjectVersionsCommand)).toHaveLength(0);
      expect(s3.commandCalls(CreateBucketCommand)).toHaveLength(0);
    };
    restorable();
    await refused(
      NOW + 60_000,
      "The point in time 2026-03-01T13:01:00.000Z is in the future (it is now 2026-03-01T13:00:00.000Z): give a time that has passed.",
    );
    // Neither needs to ask AWS.
    await refused(
      NOW - 35 * DAY - 1000,
      "The point in time 2026-01-25T12:59:59.000Z is more than 35 days ago: bucket gyre-prod-bucket keeps a replaced " +
        "or deleted object's old versions 35 days (infra/storage.ts), so its objects as they were then are gone. " +
        "Give a time after 2026-01-25T13:00:00.000Z.",
    );
    expect(dynamodb.calls()).toHaveLength(0);

    // Recovery switched on 20 days ago: a time before that is not in the table's window.
    await refused(
      NOW - 21 * DAY,
      "The point in time 2026-02-08T13:00:00.000Z is before the earliest time table gyre-prod-Table can be restored to, " +
        "2026-02-09T13:00:00.000Z (point-in-time recovery reaches back 35 days at most, and no further than when it " +
        "was switched on): give a time at or after 2026-02-09T13:00:00.000Z.",
    );
    // Past, but later than DynamoDB can restore yet.
    await refused(
      NOW - 60_000,
      "The point in time 2026-03-01T12:59:00.000Z is after the latest time table gyre-prod-Table can be restored to, " +
        "2026-03-01T12:55:00.000Z (it trails the present by about five minutes): give a time at or before " +
        "2026-03-01T12:55:00.000Z, or run the restore again in a few minutes.",
    );
    dynamodb
      .on(DescribeContinuousBackupsCommand)
      .resolves(recovery(new Date(NOW - 20 * DAY), new Date(NOW), "DISABLED" as "ENABLED"));
    await refused(
      T,
      "Point-in-time recovery is DISABLED on table gyre-prod-Table: there is no point in time to restore.",
    );
    // A bucket that keeps no versions has no objects as they were then.
    dynamodb.on(DescribeContinuousBackupsCommand).resolves(recovery(new Date(NOW - 20 * DAY), new Date(NOW)));
    s3.on(GetBucketVersioningCommand).resolves({ Status: "Suspended" });
    await refused(
      T,
      "Bucket gyre-prod-bucket does not keep object versions (versioning is Suspended): a restore could not copy the " +
        "objects as they were at 2026-03-01T12:00:00.000Z.",
    );
  });

  it("reads the time given on the command line as ISO 8601 with its zone, and refuses anything else", () => {
    expect(parsePointInTime("2026-03-01T12:00:00Z")).toBe(T);
    expect(parsePointInTime(" 2026-03-01T12:00:00.000Z ")).toBe(T);
    expect(parsePointInTime("2026-03-01T13:00:00+01:00")).toBe(T);
    expect(parsePointInTime("2026-03-01T12:00Z")).toBe(T);
    for (const text of [
      "yesterday",
      "2026-03-01",
      "2026-03-01T12:00:00",
      "March 1, 2026 12:00 UTC",
      "2026-02-30T12:00:00Z",
      "",
    ])
      expect(() => parsePointInTime(text), text).toThrow(
        `--point-in-time ${JSON.stringify(text)} is not a time: give an ISO 8601 time with its zone, such as 2026-03-01T11:45:00Z.`,
      );
  });
});
