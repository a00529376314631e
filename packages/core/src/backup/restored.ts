/**
 * What a restore does to the installation it made, besides settling its builds (settle.ts),
 * locally and on AWS alike:
 *
 * - **Credentials.** The backed-up installation's API tokens (personal, project and operator),
 *   browser sessions and sign-ins under way are dropped, unless the operator keeps them
 *   (`gyre restore --keep-tokens`). A restore is often a copy (a test of the backup, a new
 *   stage beside the old one): a credential that works on both would let whoever holds one
 *   into either, and a token revoked on the old installation after the backup would work
 *   again on the restored one. People sign in again and make new tokens; users, their roles
 *   and everything else stay. Builder nodes go too (a node's credential claims jobs, and with
 *   them their secrets): builders register again with the restored installation's join token.
 *   The keys of signed links go, so links the old installation handed out do not open here.
 *   Users' sealed GitHub tokens stay (sealed with the installation's key; they are replaced at
 *   the next GitHub sign-in).
 * - **The record.** One audit record `installation.restore` by the system, in the restored
 *   installation's own log, saying which backup it holds and what the restore did.
 */
import { ScanCommand } from "@aws-sdk/lib-dynamodb";
import { audit, SYSTEM_ACTOR } from "../audit/index.ts";
import type { Gyre } from "../context.ts";
import { deleteItems, type Key } from "../store/index.ts";
import { Keys } from "../table.ts";

/** The partitions credentials live in, from the same key builders as the items'. */
const CREDENTIALS = {
  tokens: Keys.token("").pk,
  sessions: Keys.session("").pk,
  signIns: Keys.oauthState("").pk,
  nodes: Keys.node("").pk,
  signingKeys: Keys.signingKey("").pk,
} as const;

export interface DroppedCredentials {
  /** API tokens: personal, project and operator. */
  tokens: number;
  /** Browser sessions. */
  sessions: number;
  /** OAuth sign-ins under way (their `state`). */
  signIns: number;
  /** Registered builder nodes: each holds a credential that claims jobs (and their secrets). */
  nodes: number;
  /** The keys signed links are made with (output URLs): new ones are made at the next link. */
  signingKeys: number;
}

/**
 * Deletes every credential item of the table `gyre` reaches (see the top of this file): one
 * strongly consistent scan for them, deleted page by page. Running it again deletes nothing more.
 */
export async function dropCredentials(gyre: Gyre): Promise<DroppedCredentials> {
  const dropped: DroppedCredentials = { tokens: 0, sessions: 0, signIns: 0, nodes: 0, signingKeys: 0 };
  const kinds = Object.entries(CREDENTIALS) as [keyof DroppedCredentials, string][];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await gyre.aws.dynamo.send(
      new ScanCommand({
        TableName: gyre.resources.tableName,
        ConsistentRead: true,
        ProjectionExpression: "pk, sk",
        FilterExpression: kinds.map((_, i) => `begins_with(pk, :p${i})`).join(" OR "),
        ExpressionAttributeValues: Object.fromEntries(kinds.map(([, prefix], i) => [`:p${i}`, prefix])),
        ExclusiveStartKey: start,
      }),
    );
    const keys = (page.Items ?? []) as Key[];
    await deleteItems(gyre, keys);
    for (const key of keys) {
      const kind = kinds.find(([, prefix]) => key.pk.startsWith(prefix));
      if (kind) dropped[kind[0]]++;
    }
    start = page.LastEvaluatedKey;
  } while (start);
  return dropped;
}

export interface RestoreRecord {
  /** The installation restored: a data directory, or a stage's table. */
  installation: { id: string; name: string };
  /** `gyre restore` or `gyre restore --aws`. */
  via: string;
  backup: Record<string, unknown>;
  /** What the restore did: counts of what it wrote and settled. */
  restored: Record<string, unknown>;
  /** Dropped, or undefined when they were kept (`--keep-tokens`). */
  credentials: DroppedCredentials | undefined;
}

/** Writes the restore's audit record (`installation.restore`) into the restored installation. */
export const recordRestore = (gyre: Gyre, record: RestoreRecord) =>
  audit(gyre, {
    action: "installation.restore",
    actor: SYSTEM_ACTOR,
    target: { id: record.installation.id, type: "installation", name: record.installation.name },
    payload: {
      via: record.via,
      backup: record.backup,
      ...record.restored,
      credentials: record.credentials
        ? {
            kept: false,
            tokens_dropped: record.credentials.tokens,
            sessions_dropped: record.credentials.sessions,
            sign_ins_dropped: record.credentials.signIns,
            nodes_dropped: record.credentials.nodes,
            signing_keys_dropped: record.credentials.signingKeys,
          }
        : { kept: true },
    },
  });

/** The credentials step and the record, as both restores run them after the settle. */
export async function finishRestore(
  gyre: Gyre,
  options: { keepTokens?: boolean } & Omit<RestoreRecord, "credentials">,
): Promise<DroppedCredentials | undefined> {
  const credentials = options.keepTokens ? undefined : await dropCredentials(gyre);
  await recordRestore(gyre, { ...options, credentials });
  return credentials;
}
