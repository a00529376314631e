/** Reading pipelines: by id, and a project's pipelines newest first, page by page. */
import type { Gyre } from "../context.ts";
import { notFound } from "../error.ts";
import { parseSlug } from "../project/index.ts";
import { decodePageToken, encodePageToken } from "../protocol/page-token.ts";
import { parseStored, z } from "../protocol/schema.ts";
import { getItem, type Item, queryPage } from "../store/index.ts";
import { Index, Keys } from "../table.ts";
import { type Pipeline, PipelineSchema } from "./model.ts";

export async function findPipeline(gyre: Gyre, id: string): Promise<Pipeline | undefined> {
  return getItem(gyre, Keys.pipeline(id), PipelineSchema, "pipeline");
}

export async function getPipeline(gyre: Gyre, id: string): Promise<Pipeline> {
  const pipeline = await findPipeline(gyre, id);
  if (!pipeline) throw notFound(`Pipeline ${id} not found.`);
  return pipeline;
}

const PageKeySchema = z.object({ pk: z.string(), sk: z.string(), gsi1pk: z.string(), gsi1sk: z.string() });

export async function listPipelines(
  gyre: Gyre,
  rawSlug: string,
  options: { branch?: string; limit?: number; pageToken?: string } = {},
): Promise<{ items: Pipeline[]; nextPageToken: string | null }> {
  const { slug } = parseSlug(rawSlug);
  const list = Index.pipelinesOf(slug);
  // A token is bound to the list it came from: one from another project's list is refused.
  let startKey: Item | undefined = options.pageToken
    ? decodePageToken(list, options.pageToken, {
        attributes: ["pk", "sk", "gsi1pk", "gsi1sk"],
        fixed: { gsi1pk: list },
      })
    : undefined;
  // Fill the page even when a branch filter drops items: read on until `limit` match or the
  // project's pipelines run out; the page token points just after the last item returned.
  const limit = options.limit ?? 20;
  const items: Pipeline[] = [];
  let last: Item | undefined;
  let more = true;
  while (items.length < limit && more) {
    const page = await queryPage(
      gyre,
      {
        index: "gsi1",
        partition: list,
        descending: true,
        limit: limit - items.length,
        ...(options.branch ? { filter: [{ path: ["vcs", "branch"], eq: options.branch }] } : {}),
      },
      startKey,
    );
    for (const raw of page.items) {
      items.push(parseStored(PipelineSchema, raw, "pipeline"));
      last = raw;
    }
    startKey = page.lastKey;
    more = startKey !== undefined;
  }
  const key = more && last ? PageKeySchema.parse(last) : undefined;
  return { items: items.slice(0, limit), nextPageToken: key ? encodePageToken(list, key) : null };
}
