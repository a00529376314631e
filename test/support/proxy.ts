/**
 * A forward proxy on 127.0.0.1 for tests, as corporate networks have: CONNECT tunnels (https://,
 * and anything a client tunnels) and absolute-URI requests forwarded (http://). It records
 * every request it is asked for (`CONNECT host:port`, `GET http://host:port/path`), so a test
 * can tell what went through it and, by its absence, what did not.
 *
 * It resolves names the test machine cannot: every host under `.example.test` (RFC 2606's
 * reserved `.test`) is 127.0.0.1 to it and to nobody else, so a client that reached
 * `http://dynamodb.example.test:<port>` can only have gone through this proxy.
 */
import { createServer, request as httpRequest, type Server } from "node:http";
import { type AddressInfo, connect, type Socket } from "node:net";

export const PROXY_ONLY_DOMAIN = "example.test";

export interface RecordingProxy {
  url: string;
  /** Every request in arrival order: `CONNECT host:port` or `<METHOD> <absolute URL>`. */
  seen: string[];
  /** The `host:port` of every request seen. */
  targets(): string[];
  close(): Promise<void>;
}

/** Where the proxy connects for `host`: 127.0.0.1 for the proxy-only domain. */
export function resolveProxyOnly(host: string): string {
  const bare = host.toLowerCase().replace(/^\[(.*)\]$/, "$1");
  return bare === PROXY_ONLY_DOMAIN || bare.endsWith(`.${PROXY_ONLY_DOMAIN}`) ? "127.0.0.1" : bare;
}

export async function startProxy(): Promise<RecordingProxy> {
  const seen: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    let target: URL;
    try {
      target = new URL(req.url ?? "");
    } catch {
      res.writeHead(400).end("not an absolute-URI request");
      return;
    }
    const upstream = httpRequest(
      {
        host: resolveProxyOnly(target.hostname),
        port: target.port || 80,
        path: target.pathname + target.search,
        method: req.method,
        headers: { ...req.headers, host: target.host },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on("error", (error) => {
      if (!res.headersSent) res.writeHead(502).end(`proxy: ${error.message}`);
      else res.destroy();
    });
    req.pipe(upstream);
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  server.on("connect", (req, client: Socket, head: Buffer) => {
    seen.push(`CONNECT ${req.url}`);
    const at = req.url!.lastIndexOf(":");
    const host = req.url!.slice(0, at);
    const port = Number(req.url!.slice(at + 1));
    const upstream = connect(port, resolveProxyOnly(host), () => {
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on("close", () => sockets.delete(upstream));
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    targets: () =>
      seen.map((line) => {
        const [method, target] = line.split(" ") as [string, string];
        return method === "CONNECT" ? target : new URL(target).host;
      }),
    close: () =>
      new Promise<void>((ok) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => ok());
      }),
  };
}
