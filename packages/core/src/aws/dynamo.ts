/**
 * The table's two recurring shapes of access: a put that only creates (false when the item
 * exists: a replay, a duplicate name, a delivery seen before) and a query read page by page.
 */
import { PutCommand, QueryCommand, type QueryCommandInput } from "@aws-sdk/lib-dynamodb";
import type { Gyre } from "../context.ts";
import { isConditionFailure } from "./index.ts";

/** Puts `item` unless an item with its keys exists; false when it did. */
export async function putNew(gyre: Gyre, item: Record<string, unknown>): Promise<boolean> {
  try {
    await gyre.aws.dynamo.send(
      new PutCommand({
        TableName: gyre.resources.tableName,
        Item: item,
        ConditionExpression: "attribute_not_exists(pk)",
      }),
    );
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}

/** Every item a query matches, following LastEvaluatedKey across pages. */
export async function* queryAll<T = Record<string, unknown>>(
  gyre: Gyre,
  input: Omit<QueryCommandInput, "TableName" | "ExclusiveStartKey">,
): AsyncGenerator<T> {
  let start: Record<string, unknown> | undefined;
  do {
    const out = await gyre.aws.dynamo.send(
      new QueryCommand({ ...input, TableName: gyre.resources.tableName, ExclusiveStartKey: start }),
    );
    for (const item of out.Items ?? []) yield item as T;
    start = out.LastEvaluatedKey;
  } while (start);
}
