/**
 * Page tokens, one codec for every list the API pages (`next_page_token` / `page-token`).
 *
 * A token is `base64url(JSON {v, l, k})`: `k` is the DynamoDB key to start after (the query's
 * `LastEvaluatedKey`) and `l` a digest of the list it came from, e.g. the index partition value
 * `PROJECT#gh/acme/api#PIPELINES`. Decoding checks the digest, so a token from one list (project
 * A's pipelines) is refused on another (project B's) with 400, and checks the key's shape, so
 * that nothing DynamoDB would refuse (a 500) ever reaches it as `ExclusiveStartKey`: non-empty
 * strings (every key attribute of Gyre's table is one) within DynamoDB's sort-key limit, and by
 * default exactly the attributes a query of that list hands back: `pk, sk` with `pk` = the list
 * (a query of one base-table partition), or `pk, sk, <index>pk, <index>sk` with `<index>pk` =
 * the list (a query of one index partition). So `list` is the partition value the query reads.
 * A list whose query also has a sort-key condition passes `shape.fixed` or checks the sort value
 * itself (a start key outside the condition's range is refused by DynamoDB).
 *
 * Tokens are not secret and not signed (no key is shared by every instance): a client can
 * forge a well-formed one for a list it may read anyway, which moves it within that list only.
 */
import { createHash } from "node:crypto";
import { badRequest } from "../error.ts";
import { z } from "./schema.ts";

/** Longest token accepted: a key of four attributes of Gyre's sizes is far below this. */
export const MAX_PAGE_TOKEN_LENGTH = 4096;
/** DynamoDB's limit on a sort key value (a partition key may be 2,048 bytes; Gyre's are shorter). */
const MAX_VALUE_BYTES = 1024;
const VERSION = 1;

const listDigest = (list: string) => createHash("sha256").update(list).digest("base64url").slice(0, 22);

const KeyValue = z
  .string()
  .min(1)
  .refine((v) => Buffer.byteLength(v, "utf8") <= MAX_VALUE_BYTES, `at most ${MAX_VALUE_BYTES} bytes`);
const Payload = z
  .object({
    v: z.literal(VERSION),
    l: z.string().length(22),
    k: z
      .record(z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/), KeyValue)
      .refine((k) => Object.keys(k).length >= 1 && Object.keys(k).length <= 4, "1 to 4 attributes"),
  })
  .strict();

/** Overrides the default shape check (see above). */
export interface PageTokenShape {
  /** The exact attribute names the key must have (e.g. `pk, sk, gsi1pk, gsi1sk` for a gsi1 list). */
  attributes?: readonly string[];
  /** Attributes whose value is fixed for the list (e.g. `gsi1pk` = the list's partition value). */
  fixed?: Readonly<Record<string, string>>;
}

const invalid = () => badRequest("Invalid page-token.");

/** A key a query of partition `list` hands back: of the base table, or of one index. */
function isKeyOf(list: string, key: Record<string, string>): boolean {
  const names = Object.keys(key);
  if (key.pk === undefined || key.sk === undefined) return false;
  if (names.length === 2) return key.pk === list;
  const index = names.filter((n) => n !== "pk" && n !== "sk");
  const pk = index.find((n) => n.endsWith("pk"));
  return index.length === 2 && pk !== undefined && index.includes(`${pk.slice(0, -2)}sk`) && key[pk] === list;
}

/** The token for the page after `key` in `list` (a name for the list, such as its partition value). */
export function encodePageToken(list: string, key: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify({ v: VERSION, l: listDigest(list), k: key }), "utf8").toString(
    "base64url",
  );
}

/**
 * The key a token of `list` starts after; bad_request ("Invalid page-token.") when the token is
 * malformed, was made for another list, or its key is not of the given shape.
 */
export function decodePageToken(
  list: string,
  token: string,
  shape: PageTokenShape = {},
): Record<string, string> {
  if (typeof token !== "string" || token.length > MAX_PAGE_TOKEN_LENGTH || !/^[A-Za-z0-9_-]+$/.test(token))
    throw invalid();
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw invalid();
  }
  const parsed = Payload.safeParse(json);
  if (!parsed.success || parsed.data.l !== listDigest(list)) throw invalid();
  const key = parsed.data.k;
  if (shape.attributes) {
    if (Object.keys(key).sort().join() !== [...shape.attributes].sort().join()) throw invalid();
  } else if (!isKeyOf(list, key)) throw invalid();
  for (const [name, value] of Object.entries(shape.fixed ?? {})) if (key[name] !== value) throw invalid();
  // A plain object with exactly the attributes read (never a prototype the JSON named).
  return Object.fromEntries(Object.entries(key));
}
