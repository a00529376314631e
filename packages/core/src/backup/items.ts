/**
 * Table items as the archive keeps them: DynamoDB's own AttributeValue JSON (`{"S": "..."}`),
 * lossless for every type (binary as base64), one item a line. Read and written with the
 * low-level commands (Scan, BatchWriteItem), never through the document client, so that a
 * number keeps its exact digits and a set stays a set.
 */
import type { AttributeValue } from "@aws-sdk/client-dynamodb";

export type StoredItem = Record<string, AttributeValue>;
type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

const base64 = (b: Uint8Array) => Buffer.from(b).toString("base64");

function attributeToJson(value: AttributeValue): JsonValue {
  if (value.B !== undefined) return { B: base64(value.B) };
  if (value.BS !== undefined) return { BS: value.BS.map(base64) };
  if (value.M !== undefined) return { M: itemToJson(value.M) };
  if (value.L !== undefined) return { L: value.L.map(attributeToJson) };
  if (value.S !== undefined) return { S: value.S };
  if (value.N !== undefined) return { N: value.N };
  if (value.SS !== undefined) return { SS: value.SS };
  if (value.NS !== undefined) return { NS: value.NS };
  if (value.BOOL !== undefined) return { BOOL: value.BOOL };
  if (value.NULL !== undefined) return { NULL: true };
  throw new Error(`An attribute of a type the backup does not know: ${Object.keys(value).join(", ")}.`);
}

export function itemToJson(item: StoredItem): Record<string, JsonValue> {
  return Object.fromEntries(Object.entries(item).map(([k, v]) => [k, attributeToJson(v)]));
}

function attributeFromJson(value: unknown, where: string): AttributeValue {
  if (!value || typeof value !== "object" || Array.isArray(value))
    throw new Error(`${where}: not an AttributeValue.`);
  const [[type, v] = []] = Object.entries(value);
  switch (type) {
    case "S":
    case "N":
      if (typeof v !== "string") break;
      return type === "S" ? { S: v } : { N: v };
    case "B":
      if (typeof v !== "string") break;
      return { B: new Uint8Array(Buffer.from(v, "base64")) };
    case "SS":
    case "NS":
      if (!Array.isArray(v) || !v.every((s) => typeof s === "string")) break;
      return type === "SS" ? { SS: v } : { NS: v };
    case "BS":
      if (!Array.isArray(v) || !v.every((s) => typeof s === "string")) break;
      return { BS: v.map((s: string) => new Uint8Array(Buffer.from(s, "base64"))) };
    case "BOOL":
      if (typeof v !== "boolean") break;
      return { BOOL: v };
    case "NULL":
      return { NULL: true };
    case "M":
      return { M: itemFromJson(v, where) };
    case "L":
      if (!Array.isArray(v)) break;
      return { L: v.map((e, i) => attributeFromJson(e, `${where}[${i}]`)) };
  }
  throw new Error(`${where}: not an AttributeValue (${JSON.stringify(value).slice(0, 80)}).`);
}

export function itemFromJson(value: unknown, where = "item"): StoredItem {
  if (!value || typeof value !== "object" || Array.isArray(value)) throw new Error(`${where}: not an item.`);
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, attributeFromJson(v, `${where}.${k}`)]),
  );
}

/** The item's `updatedAt` as epoch ms (jobs keep a number, pipelines an ISO time), if it has one. */
export function writeTimeOf(item: StoredItem): number | undefined {
  const at = item.updatedAt;
  if (at?.N !== undefined) return Number(at.N);
  if (at?.S !== undefined) {
    const ms = Date.parse(at.S);
    return Number.isNaN(ms) ? undefined : ms;
  }
  return undefined;
}

/** A job (`sk JOB#...`) still queued or running: the restore settles it. */
export const isInFlightJob = (item: StoredItem) =>
  item.sk?.S?.startsWith("JOB#") === true && ["queued", "running"].includes(item.status?.S ?? "");
