import { GyreError } from "@gyre/core/error";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { type Env, rawBody } from "./context.ts";

/** A tiny app that answers the size of the body rawBody accepted, or 413. */
function app(limit: number) {
  const a = new Hono<Env>();
  a.post("/", async (c) => c.json({ bytes: (await rawBody(c, limit)).byteLength }));
  a.onError((error, c) => c.json({ message: error.message }, error instanceof GyreError ? 413 : 500));
  return a;
}

/** A request body sent in chunks, with no Content-Length (how a streaming client sends it). */
function chunked(parts: number, size: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent++ === parts) return controller.close();
      controller.enqueue(new Uint8Array(size));
    },
  });
}

describe("rawBody", () => {
  it("accepts a body up to the limit, with or without Content-Length", async () => {
    expect(await (await app(10).request("/", { method: "POST", body: "0123456789" })).json()).toEqual({
      bytes: 10,
    });
    const streamed = await app(10).request("/", {
      method: "POST",
      body: chunked(2, 5),
      duplex: "half",
    } as RequestInit);
    expect(await streamed.json()).toEqual({ bytes: 10 });
  });

  it("refuses a declared or a streamed body past the limit with 413, without reading it all", async () => {
    const declared = await app(10).request("/", { method: "POST", body: "01234567890" });
    expect(declared.status).toBe(413);
    let pulled = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        controller.enqueue(new Uint8Array(1024));
      },
    });
    const streamed = await app(4096).request("/", {
      method: "POST",
      body: endless,
      duplex: "half",
    } as RequestInit);
    expect(streamed.status).toBe(413);
    expect(await streamed.json()).toEqual({ message: "Request body is larger than 4096 bytes." });
    expect(pulled).toBeLessThan(10);
  });
});
