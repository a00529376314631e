import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { AllocationLost, GyreApi } from "./api.ts";

/** How the test server treats its nth request (1-based); "hang" accepts it and never answers. */
type Behaviour = "hang" | ((req: IncomingMessage, res: ServerResponse, body: string) => void);

interface Served {
  api: GyreApi;
  /** Each request the server got: path, authorization header and body. */
  requests: { path: string; authorization?: string; body: string }[];
}

let server: Server | undefined;

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

/** A real HTTP server on 127.0.0.1 that plays `behaviours` in turn, the last one for ever after. */
async function serve(...behaviours: Behaviour[]): Promise<Served> {
  const requests: Served["requests"] = [];
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (part) => {
      body += part;
    });
    req.on("end", () => {
      requests.push({ path: req.url ?? "", authorization: req.headers.authorization, body });
      const behaviour = behaviours[Math.min(requests.length, behaviours.length) - 1]!;
      if (behaviour !== "hang") behaviour(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  // Small timeouts and backoff keep the tests fast; the logic is the production one.
  const api = new GyreApi(`http://127.0.0.1:${port}`, "secret-token", {
    timeoutMs: 150,
    minDelayMs: 5,
    maxDelayMs: 20,
  });
  return { api, requests };
}

const json =
  (status: number, value: unknown): Behaviour =>
  (_req, res) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(value));
  };

describe("GyreApi.post", () => {
  it("sends the body as JSON to /agent/v1 with the token, and returns the answer", async () => {
    const { api, requests } = await serve(json(200, { job: "j" }));
    expect(await api.post("/claim", { node_id: "n" })).toEqual({ job: "j" });
    expect(requests).toEqual([
      { path: "/agent/v1/claim", authorization: "Bearer secret-token", body: '{"node_id":"n"}' },
    ]);
  });

  it("abandons a try that gets no answer, and succeeds when a later try is answered", async () => {
    const { api, requests } = await serve("hang", "hang", json(200, { ok: true }));
    const started = performance.now();
    expect(await api.post("/heartbeat", { task_token: "t" })).toEqual({ ok: true });
    expect(requests).toHaveLength(3);
    // Two timeouts of 150 ms and two short backoffs: nowhere near "for ever".
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it("abandons a try whose answer stalls halfway through its body", async () => {
    const stall: Behaviour = (_req, res) => {
      res.writeHead(200, { "content-type": "application/json", "content-length": "100" });
      res.write('{"ok":');
    };
    const { api, requests } = await serve(stall, json(200, { ok: true }));
    expect(await api.post("/finish", {})).toEqual({ ok: true });
    expect(requests).toHaveLength(2);
  });

  it("retries a connection the server drops", async () => {
    const drop: Behaviour = (req) => req.socket.destroy();
    const { api, requests } = await serve(drop, json(200, { ok: true }));
    expect(await api.post("/output", {})).toEqual({ ok: true });
    expect(requests).toHaveLength(2);
  });

  it("retries 5xx answers: 503 twice, then 200", async () => {
    const unavailable = json(503, { message: "Service unavailable." });
    const { api, requests } = await serve(unavailable, unavailable, json(200, { ok: true }));
    expect(await api.post("/output", {})).toEqual({ ok: true });
    expect(requests).toHaveLength(3);
  });

  it("throws AllocationLost on 409, without retrying", async () => {
    const { api, requests } = await serve(json(409, { message: "Allocation is not yours." }));
    const error = await api.post("/claim", {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AllocationLost);
    expect((error as Error).message).toBe("Allocation is not yours.");
    expect(requests).toHaveLength(1);
  });

  it("fails at once on any other 4xx, with the server's message", async () => {
    const { api, requests } = await serve(json(400, { message: "node_id must be a non-empty string." }));
    await expect(api.post("/claim", {})).rejects.toThrow(
      "POST /claim: 400 node_id must be a non-empty string.",
    );
    expect(requests).toHaveLength(1);
  });

  it("fails at once on a 4xx with a body that is not JSON, showing it as is", async () => {
    const page: Behaviour = (_req, res) => {
      res.writeHead(403, { "content-type": "text/html" });
      res.end("<h1>Forbidden</h1>\n");
    };
    const { api, requests } = await serve(page);
    await expect(api.post("/claim", {})).rejects.toThrow("POST /claim: 403 <h1>Forbidden</h1>");
    expect(requests).toHaveLength(1);
  });

  it("gives up after the attempts it was given, 5xx or silence", async () => {
    const failing = await serve(json(500, { message: "Internal server error." }));
    await expect(failing.api.post("/output", {}, 3)).rejects.toThrow(
      "POST /output: 500 Internal server error.",
    );
    expect(failing.requests).toHaveLength(3);
    server?.closeAllConnections();
    server?.close();

    const silent = await serve("hang");
    await expect(silent.api.post("/finish", {}, { attempts: 2 })).rejects.toThrow(
      "POST /finish: no answer within 150 ms",
    );
    expect(silent.requests).toHaveLength(2);
  });

  it("tries five times by default, and a call's own timeout wins", async () => {
    const { api, requests } = await serve("hang");
    const started = performance.now();
    await expect(api.post("/output", {}, { timeoutMs: 30 })).rejects.toThrow("no answer within 30 ms");
    expect(requests).toHaveLength(5);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it("does not retry a 200 whose body is not JSON", async () => {
    const garbled: Behaviour = (_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{not json");
    };
    const { api, requests } = await serve(garbled);
    await expect(api.post("/claim", {})).rejects.toThrow("POST /claim: 200 answer is not JSON");
    expect(requests).toHaveLength(1);
  });
});
