/** The bucket on s3rver: listings past one page (its v2 continuation tokens fail on Node's OpenSSL 3), and whole objects only. */
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, expect, it } from "vitest";
import { readStepChunks } from "../output/index.ts";
import { memoryTable, type TestTable, testBucket } from "../store/test-table.ts";
import { listKeys, listObjects, readText } from "./s3.ts";

let bucket: Awaited<ReturnType<typeof testBucket>>;
let t: TestTable;
beforeAll(async () => {
  bucket = await testBucket();
  t = await memoryTable({ endpoints: { s3: bucket.endpoint } });
});
afterAll(async () => {
  await t?.close();
  await bucket?.close();
});

it("lists more than a page of objects, in key order, each once with its size; a step's 1,005 chunks read whole", async () => {
  const prefix = "output/job/1/0/0002/";
  const keys = Array.from({ length: 1005 }, (_, i) => `${prefix}${String(i).padStart(8, "0")}`);
  for (let i = 0; i < keys.length; i += 50)
    await Promise.all(
      keys
        .slice(i, i + 50)
        .map((Key, j) =>
          t.gyre.aws.s3.send(new PutObjectCommand({ Bucket: "gyre", Key, Body: `line ${i + j}\n` })),
        ),
    );
  expect(await listKeys(t.gyre, prefix)).toEqual(keys);
  const sizes: number[] = [];
  for await (const o of listObjects(t.gyre, prefix)) sizes.push(o.size);
  expect(sizes.slice(0, 3)).toEqual([7, 7, 7]);
  const read = await readStepChunks(t.gyre, { jobId: "job", attempt: 1, index: 0 }, 2, 0);
  expect(read.chunks).toHaveLength(1005);
  expect(read.chunks.at(-1)).toMatchObject({ seq: 1004, data: "line 1004\n" });
  expect(read).toMatchObject({ next: 1005, more: false });
});

it("never answers part of an object: reads while it is rewritten get the old one or the new one, whole", async () => {
  const Key = "output/job/1/0/steps.json";
  const small = "a".repeat(1024 * 1024);
  const large = "b".repeat(8 * 1024 * 1024);
  await t.gyre.aws.s3.send(new PutObjectCommand({ Bucket: "gyre", Key, Body: small }));
  const seen = new Set<string>();
  // Rewrites alternating a small and a large object, each with three readers meanwhile: a read
  // that took its size from one and its bytes from the other would be part of one.
  for (const body of [large, small, large, small, large]) {
    let written = false;
    const put = t.gyre.aws.s3.send(new PutObjectCommand({ Bucket: "gyre", Key, Body: body })).then(() => {
      written = true;
    });
    const reader = async () => {
      while (!written) {
        const text = await readText(t.gyre, Key);
        seen.add(text === small ? "small" : text === large ? "large" : `part of ${text?.length} characters`);
      }
    };
    await Promise.all([put, reader(), reader(), reader()]);
    // Once the write is answered, the new object whole.
    expect(await readText(t.gyre, Key)).toBe(body);
  }
  expect([...seen].filter((s) => s.startsWith("part"))).toEqual([]);
});
