/**
 * The app behind a real Node server on 127.0.0.1, driven over raw sockets: oversized request
 * heads are answered with 431 and a closed connection, never a reset, however the client sends.
 */

import type { AddressInfo, Socket } from "node:net";
import { connect } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { Gyre } from "@gyre/core/context";
import { selfSignedCertificate } from "@gyre/core/test-tls";
import { serve } from "@hono/node-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "./app.ts";
import { MAX_HEADER_BYTES, nodeServerOptions } from "./node-server.ts";

let server: ReturnType<typeof serve>;
let port: number;

beforeAll(async () => {
  // /healthz touches nothing: the app needs no AWS behind it here.
  const app = createApp({} as Gyre, { logError: () => {} });
  server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1", ...nodeServerOptions() });
  await new Promise<void>((ok) => server.once("listening", ok));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  (server as unknown as { closeAllConnections(): void }).closeAllConnections();
  await new Promise<void>((ok) => server.close(() => ok()));
});

/**
 * Sends `head` (a request line and headers) in `chunk`-byte writes `gapMs` apart, reads nothing
 * for the first 100 ms (so a RST would find the answer still unread), then collects the answer.
 */
function exchange(
  head: string,
  chunk: number,
  gapMs: number,
  open: () => Socket = () => connect(port, "127.0.0.1"),
): Promise<{ answer: string; error?: string }> {
  return new Promise((resolve) => {
    const socket = open();
    const data = Buffer.from(head);
    let answer = "";
    let error: string | undefined;
    socket.on("data", (d) => {
      answer += d.toString("latin1");
    });
    socket.on("error", (e: NodeJS.ErrnoException) => {
      error = e.code;
    });
    socket.on("close", () => resolve({ answer, error }));
    let offset = 0;
    const pump = () => {
      if (offset >= data.length || socket.destroyed) return;
      socket.write(data.subarray(offset, offset + chunk));
      offset += chunk;
      setTimeout(pump, gapMs);
    };
    pump();
    socket.pause();
    setTimeout(() => socket.resume(), 100);
  });
}

const request = (headerBytes: number) =>
  `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${"a".repeat(headerBytes)}\r\n\r\n`;

describe("request heads over the limit", () => {
  it.each([
    ["20 KB at once", 20_000, 1 << 20, 0],
    ["100 KB at once", 100_000, 1 << 20, 0],
    ["20 KB trickled", 20_000, 8192, 2],
    ["100 KB trickled", 100_000, 8192, 2],
  ])("answers 431 to %s, then closes without a reset", async (_, size, chunk, gap) => {
    const { answer, error } = await exchange(request(size), chunk, gap);
    expect(answer.split("\r\n")[0]).toBe("HTTP/1.1 431 Request Header Fields Too Large");
    expect(answer).toContain("Connection: close");
    expect(JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4))).toEqual({
      message: `Request headers are larger than ${MAX_HEADER_BYTES} bytes.`,
    });
    expect(error).not.toBe("ECONNRESET");
  });

  it("still serves a request under the limit, and answers 400 to one that is not HTTP", async () => {
    const ok = await exchange(
      `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Fine: ${"a".repeat(8000)}\r\nConnection: close\r\n\r\n`,
      1 << 20,
      0,
    );
    expect(ok.answer.split("\r\n")[0]).toBe("HTTP/1.1 200 OK");
    const bad = await exchange("NOT HTTP AT ALL\r\n\r\n", 1 << 20, 0);
    expect(bad.answer.split("\r\n")[0]).toBe("HTTP/1.1 400 Bad Request");
  });
});

describe("over HTTPS (gyre start --tls-cert)", () => {
  const pair = selfSignedCertificate();

  it.skipIf(!pair)("caps the head the same way: 431 and a clean close, and serves what fits", async () => {
    const app = createApp({} as Gyre, { logError: () => {} });
    const tls = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1", ...nodeServerOptions(pair!) });
    await new Promise<void>((ok) => tls.once("listening", ok));
    const tlsPort = (tls.address() as AddressInfo).port;
    const open = () => tlsConnect({ port: tlsPort, host: "127.0.0.1", ca: pair!.cert });
    try {
      const { answer, error } = await exchange(request(100_000), 8192, 2, open);
      expect(answer.split("\r\n")[0]).toBe("HTTP/1.1 431 Request Header Fields Too Large");
      expect(error).not.toBe("ECONNRESET");
      const ok = await exchange(
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        1 << 20,
        0,
        open,
      );
      expect(ok.answer.split("\r\n")[0]).toBe("HTTP/1.1 200 OK");
    } finally {
      (tls as unknown as { closeAllConnections(): void }).closeAllConnections();
      await new Promise<void>((ok) => tls.close(() => ok()));
    }
  });
});

describe("kept-alive connections", () => {
  it("stay open well past Node's 5 s default, so a busy client reusing one is not reset", async () => {
    const socket = connect(port, "127.0.0.1");
    let answer = "";
    socket.on("data", (d) => {
      answer += d.toString("latin1");
    });
    const closed = new Promise<void>((ok) => socket.on("close", () => ok()));
    const ask = async () => {
      answer = "";
      socket.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
      while (!answer.includes("\r\n\r\n")) await new Promise((r) => setTimeout(r, 20));
      return answer.split("\r\n")[0];
    };
    expect(await ask()).toBe("HTTP/1.1 200 OK");
    expect(answer.toLowerCase()).toContain("keep-alive: timeout=65");
    await new Promise((r) => setTimeout(r, 5_500));
    expect(socket.destroyed).toBe(false);
    expect(await ask()).toBe("HTTP/1.1 200 OK");
    socket.end();
    await closed;
  });
});
