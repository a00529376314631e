/**
 * How the app is served by Node (`@hono/node-server` locally): the request head is capped at
 * the size API Gateway takes on AWS (HTTP APIs: "total combined size of request line and header
 * values: 10240 bytes"), so a request behaves the same on both, and a request over the cap gets
 * a clean `431 Request Header Fields Too Large` instead of a reset connection.
 *
 * Node's own handling writes its 431 and destroys the socket at once; when the client is still
 * sending its headers, the unread bytes make the kernel answer with a RST, which discards the
 * 431 on the client's side before it is read. Here the answer is written, the socket is
 * half-closed, and what the client still sends is read and dropped until it closes its side
 * (or a few seconds pass).
 *
 *   serve({ fetch: app.fetch, port, hostname, ...nodeServerOptions() })
 *   serve({ fetch: app.fetch, port, hostname, ...nodeServerOptions({ cert, key }) })   // HTTPS
 */
import { createServer, type Server, type ServerOptions } from "node:http";
import { createServer as createHttpsServer, type ServerOptions as HttpsServerOptions } from "node:https";
import type { Socket } from "node:net";

/** API Gateway's limit on an HTTP API request's line and headers together. */
export const MAX_HEADER_BYTES = 10_240;
/** How long a refused client may go on sending before its connection is dropped. */
const DRAIN_MS = 5_000;

const REFUSALS: Record<string, [number, string, string]> = {
  HPE_HEADER_OVERFLOW: [
    431,
    "Request Header Fields Too Large",
    `Request headers are larger than ${MAX_HEADER_BYTES} bytes.`,
  ],
  HPE_CHUNK_EXTENSIONS_OVERFLOW: [413, "Payload Too Large", "Chunk extensions are too large."],
  ERR_HTTP_REQUEST_TIMEOUT: [408, "Request Timeout", "The request took too long to arrive."],
};

/**
 * How long an idle kept-alive connection stays open: longer than clients keep one for reuse (a
 * client reusing a connection the server is closing at that moment gets ECONNRESET; with Node's
 * 5 s a busy client loses that race), as load balancers do with their 60 s.
 */
export const KEEP_ALIVE_MS = 65_000;

/** Answers a request Node could not parse (or that took too long) and closes the connection cleanly. */
export function handleClientErrors(server: Server): Server {
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  // Node's rule: the headers of the next request on a kept-alive connection may take this long.
  server.headersTimeout = KEEP_ALIVE_MS + 1000;
  const answered = new WeakSet<Socket>();
  server.on("clientError", (error: NodeJS.ErrnoException, socket: Socket) => {
    if (answered.has(socket)) return;
    answered.add(socket);
    const code = error.code ?? "";
    // A connection the client broke has nobody to answer; a response under way must not be interleaved.
    const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (code === "ECONNRESET" || code === "EPIPE" || !socket.writable || inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    const [status, reason, message] = REFUSALS[code] ?? [
      400,
      "Bad Request",
      "The request is not valid HTTP/1.1.",
    ];
    const body = JSON.stringify({ message });
    socket.on("error", () => socket.destroy());
    socket.on("data", () => {}); // read and drop the rest, so that closing sends no RST
    socket.on("end", () => socket.destroy());
    socket.resume();
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
    setTimeout(() => socket.destroy(), DRAIN_MS).unref();
  });
  return server;
}

/** A certificate (PEM, its chain after it) and its private key, for serving HTTPS. */
export interface TlsCertificate {
  cert: string;
  key: string;
}

/**
 * `serverOptions` and `createServer` for `@hono/node-server`'s `serve()` / `createAdaptorServer()`:
 * HTTP, or HTTPS with `tls` (the same cap and clean refusals: an HTTPS server parses the
 * request inside TLS as an HTTP one does, and reports the same client errors).
 */
export function nodeServerOptions(): { serverOptions: ServerOptions; createServer: typeof createServer };
export function nodeServerOptions(tls: TlsCertificate): {
  serverOptions: HttpsServerOptions;
  createServer: typeof createHttpsServer;
};
export function nodeServerOptions(
  tls?: TlsCertificate,
):
  | { serverOptions: ServerOptions; createServer: typeof createServer }
  | { serverOptions: HttpsServerOptions; createServer: typeof createHttpsServer } {
  if (tls) {
    const create = (...args: unknown[]) =>
      handleClientErrors((createHttpsServer as (...a: unknown[]) => Server)(...args));
    return {
      serverOptions: { maxHeaderSize: MAX_HEADER_BYTES, cert: tls.cert, key: tls.key },
      createServer: create as typeof createHttpsServer,
    };
  }
  const create = (...args: unknown[]) =>
    handleClientErrors((createServer as (...a: unknown[]) => Server)(...args));
  return { serverOptions: { maxHeaderSize: MAX_HEADER_BYTES }, createServer: create as typeof createServer };
}
