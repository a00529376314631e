/**
 * The AWS backup and restore at the SDK boundary: DynamoDB backups, S3 versions and copies
 * have no local stand-in, so the clients are aws-sdk-client-mock's and the tests check what
 * is sent and what is made of the answers.
 */
import {
  CreateBackupCommand,
  DescribeBackupCommand,
  DescribeTableCommand,
  DynamoDBClient,
  RestoreTableFromBackupCommand,
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
import { type AwsManifest, createAwsBackup, restoreAwsBackup, restoredNames, versionsAt } from "./aws.ts";

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
    const settled: string[] = [];

    const report = await restoreAwsBackup(clients(), {
      backupArn: ARN,
      manifest,
      stage: "dr",
      region: "eu-west-1",
      pollMs: 1,
      settle: async (table) => {
        settled.push(table);
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
