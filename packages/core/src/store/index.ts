/**
 * The store: every DynamoDB command Gyre sends is built here, from data (keys from table.ts,
 * expressions from expression.ts), and every item read comes back parsed by the caller's
 * schema into its domain type. No other module builds a key, an expression or a command.
 *
 * The table has no transactions locally (dynalite), so every change is a conditional
 * single-item write with a deterministic key, ordered so a replay or the reconciler repairs
 * a crash between two writes (docs/architecture.md).
 */
import {
  BatchWriteCommand,
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import { isConditionFailure } from "../aws/index.ts";
import type { Gyre } from "../context.ts";
import { badRequest } from "../error.ts";
import { parseStored, type z } from "../protocol/schema.ts";
import {
  type Condition,
  compileCondition,
  compileUpdate,
  ExpressionBuilder,
  type UpdateSpec,
} from "./expression.ts";

export type { Condition, UpdateSpec } from "./expression.ts";

export interface Key {
  pk: string;
  sk: string;
}

export type Item = Record<string, unknown>;

/** Reads one item; undefined when there is none. Strongly consistent unless told otherwise. */
export async function getItem<S extends z.ZodType>(
  gyre: Gyre,
  key: Key,
  schema: S,
  what: string,
  options: { consistent?: boolean } = {},
): Promise<z.output<S> | undefined> {
  const out = await gyre.aws.dynamo.send(
    new GetCommand({
      TableName: gyre.resources.tableName,
      Key: key,
      ConsistentRead: options.consistent ?? true,
    }),
  );
  return out.Item === undefined ? undefined : parseStored(schema, out.Item, what);
}

/** Puts `item` (keys included); with `when`, only if the conditions hold (false otherwise). */
export async function putItem(gyre: Gyre, item: Item, when?: readonly Condition[]): Promise<boolean> {
  try {
    await gyre.aws.dynamo.send(
      new PutCommand({ TableName: gyre.resources.tableName, Item: item, ...compileCondition(when) }),
    );
    return true;
  } catch (error) {
    if (when && isConditionFailure(error)) return false;
    throw error;
  }
}

/** Puts `item` unless an item with its keys exists; false when it did (a replay, a duplicate). */
export const putNew = (gyre: Gyre, item: Item) => putItem(gyre, item, [{ path: "pk", exists: false }]);

/**
 * Applies an update. Resolves to the item as it is after the write (parsed by `schema`) or,
 * when a condition did not hold, to undefined: the caller decides whether that is a replay,
 * a lost race or a conflict.
 */
export async function updateItem<S extends z.ZodType>(
  gyre: Gyre,
  key: Key,
  spec: UpdateSpec,
  schema: S,
  what: string,
): Promise<z.output<S> | undefined> {
  try {
    const out = await gyre.aws.dynamo.send(
      new UpdateCommand({
        TableName: gyre.resources.tableName,
        Key: key,
        ...compileUpdate(spec),
        ReturnValues: "ALL_NEW",
      }),
    );
    return parseStored(schema, out.Attributes, what);
  } catch (error) {
    if (spec.when && isConditionFailure(error)) return undefined;
    throw error;
  }
}

/** Applies an update without reading anything back; false when a condition did not hold. */
export async function tryUpdate(gyre: Gyre, key: Key, spec: UpdateSpec): Promise<boolean> {
  try {
    await gyre.aws.dynamo.send(
      new UpdateCommand({ TableName: gyre.resources.tableName, Key: key, ...compileUpdate(spec) }),
    );
    return true;
  } catch (error) {
    if (spec.when && isConditionFailure(error)) return false;
    throw error;
  }
}

/** Deletes an item; with `when`, only if the conditions hold (false otherwise). */
export async function deleteItem(gyre: Gyre, key: Key, when?: readonly Condition[]): Promise<boolean> {
  try {
    await gyre.aws.dynamo.send(
      new DeleteCommand({ TableName: gyre.resources.tableName, Key: key, ...compileCondition(when) }),
    );
    return true;
  } catch (error) {
    if (when && isConditionFailure(error)) return false;
    throw error;
  }
}

/** Deletes many items, 25 per request, retrying what DynamoDB leaves unprocessed. */
export async function deleteItems(gyre: Gyre, keys: readonly Key[]): Promise<void> {
  const failed = (
    await writeBatch(
      gyre,
      keys.map((Key) => ({ DeleteRequest: { Key } })),
    )
  ).find((e) => e !== undefined);
  if (failed) throw failed;
}

/**
 * Puts many items unconditionally (keys included), 25 per request, the requests in parallel,
 * retrying what DynamoDB leaves unprocessed. Only for items nobody else can be writing: fresh
 * random ids (a conditional put is one request per item). One answer per item, in order:
 * undefined when it was written, the error when it was not (only its own request's items fail).
 */
export const putItems = (gyre: Gyre, items: readonly Item[]) =>
  writeBatch(
    gyre,
    items.map((Item) => ({ PutRequest: { Item } })),
  );

/** Rounds of retrying unprocessed items (backoff 25 ms doubling to 1 s: about 4 s in all). */
const BATCH_ROUNDS = 8;

async function writeBatch(
  gyre: Gyre,
  all: readonly Record<string, unknown>[],
): Promise<(Error | undefined)[]> {
  const table = gyre.resources.tableName;
  const answers: (Error | undefined)[] = all.map(() => undefined);
  const chunks: number[][] = [];
  for (let i = 0; i < all.length; i += 25) chunks.push(all.slice(i, i + 25).map((_, j) => i + j));
  await Promise.all(
    chunks.map(async (chunk) => {
      try {
        let requests = chunk.map((i) => all[i]!);
        for (let round = 0; requests.length > 0; round++) {
          if (round === BATCH_ROUNDS)
            throw new Error(`DynamoDB left ${requests.length} write(s) unprocessed after ${round} rounds.`);
          if (round > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 25 * 2 ** (round - 1))));
          const out = await gyre.aws.dynamo.send(
            new BatchWriteCommand({ RequestItems: { [table]: requests } }),
          );
          requests = (out.UnprocessedItems?.[table] ?? []) as Record<string, unknown>[];
        }
      } catch (error) {
        // Some of the chunk may be written: each of its items is answered as not written (an
        // unconditional put of a fresh id is safe to repeat).
        for (const i of chunk) answers[i] = error instanceof Error ? error : new Error(String(error));
      }
    }),
  );
  return answers;
}

export type SortKeyCondition =
  | { eq: string }
  | { beginsWith: string }
  | { lt: string }
  | { gte: string }
  | { between: readonly [string, string] };

/** A query by partition (of the table or an index), with an optional sort-key condition. */
export interface QuerySpec {
  index?: "gsi1" | "gsi2";
  partition: string;
  sort?: SortKeyCondition;
  filter?: readonly Condition[];
  descending?: boolean;
  /** Items read per request (before the filter applies). */
  limit?: number;
  consistent?: boolean;
}

function compileQuery(spec: QuerySpec) {
  const b = new ExpressionBuilder();
  const pkName = b.name(spec.index ? `${spec.index}pk` : "pk");
  let key = `${pkName} = ${b.value(spec.partition)}`;
  const s = spec.sort;
  if (s) {
    const skName = b.name(spec.index ? `${spec.index}sk` : "sk");
    if ("eq" in s) key += ` AND ${skName} = ${b.value(s.eq)}`;
    else if ("beginsWith" in s) key += ` AND begins_with(${skName}, ${b.value(s.beginsWith)})`;
    else if ("lt" in s) key += ` AND ${skName} < ${b.value(s.lt)}`;
    else if ("gte" in s) key += ` AND ${skName} >= ${b.value(s.gte)}`;
    else key += ` AND ${skName} BETWEEN ${b.value(s.between[0])} AND ${b.value(s.between[1])}`;
  }
  const filter = b.conditions(spec.filter);
  return {
    ...(spec.index ? { IndexName: spec.index } : {}),
    KeyConditionExpression: key,
    ...(filter ? { FilterExpression: filter } : {}),
    ...b.attributes(),
    ...(spec.descending ? { ScanIndexForward: false } : {}),
    ...(spec.limit ? { Limit: spec.limit } : {}),
    ...(spec.consistent ? { ConsistentRead: true } : {}),
  };
}

/**
 * One page of a query: the items (raw: the caller parses each by its kind), where to go on, and
 * how many items the page read before the filter dropped any (`scanned`, to bound a search).
 */
export async function queryPage(
  gyre: Gyre,
  spec: QuerySpec,
  startKey?: Item,
): Promise<{ items: Item[]; lastKey?: Item; scanned: number }> {
  const command = new QueryCommand({
    TableName: gyre.resources.tableName,
    ...compileQuery(spec),
    ExclusiveStartKey: startKey,
  });
  const out = await gyre.aws.dynamo.send(command).catch((error: unknown) => {
    // A start key from a page token that names no position of this query: the caller's input.
    if (
      startKey &&
      error instanceof Error &&
      error.name === "ValidationException" &&
      /start/i.test(error.message)
    )
      throw badRequest("Invalid page-token.");
    throw error;
  });
  const items = out.Items ?? [];
  return { items, lastKey: out.LastEvaluatedKey, scanned: out.ScannedCount ?? items.length };
}

/** Every item a query matches, following the pages, parsed by `schema`. */
export async function* queryAll<S extends z.ZodType>(
  gyre: Gyre,
  spec: QuerySpec,
  schema: S,
  what: string,
): AsyncGenerator<z.output<S>> {
  for await (const item of queryRaw(gyre, spec)) yield parseStored(schema, item, what);
}

/** Every raw item a query matches (for partitions that hold several kinds; parse each by its `sk`). */
export async function* queryRaw(gyre: Gyre, spec: QuerySpec): AsyncGenerator<Item> {
  let start: Item | undefined;
  do {
    const page = await queryPage(gyre, spec, start);
    yield* page.items;
    start = page.lastKey;
  } while (start);
}
