/**
 * A GitHub stand-in for tests: a local HTTP(S) server that answers the REST calls Gyre makes
 * (commit statuses, repository hooks and deploy keys, branches) as GitHub does, keeps what was
 * created, and records every request, so a test reads what Gyre sent. Answers can be scripted
 * ahead (`answerNext`: a rate limit, a 502), matched by method and path. Never the internet.
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  method: string;
  /** The path below the API's base (`/repos/o/r/statuses/<sha>`), without the query. */
  path: string;
  query: URLSearchParams;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  /** What the stand-in answered. */
  status: number;
}

export interface ScriptedAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
  /** Only for requests of this method and whose path matches (default: any). */
  method?: string;
  path?: RegExp;
}

export interface StandInOptions {
  /** `/api/v3` for a GitHub Enterprise Server (default: none, as api.github.com). */
  basePath?: string;
  /** Serve HTTPS with this certificate and key (PEM). */
  tls?: { cert: string; key: string };
}

interface Hook {
  id: number;
  repo: string;
  name: string;
  active: boolean;
  events: string[];
  config: Record<string, unknown>;
}

interface DeployKey {
  id: number;
  repo: string;
  key: string;
  title: string;
  read_only: boolean;
}

export interface GithubStandIn {
  /** The API's base URL, as a project's `api_url` (`http://127.0.0.1:<port>[/api/v3]`). */
  url: string;
  requests: RecordedRequest[];
  /** Branch heads by repository (`owner/name` → branch → sha), for `GET .../branches`. */
  branches: Map<string, Map<string, string>>;
  hooks: Hook[];
  keys: DeployKey[];
  /** The commit statuses posted, oldest first. */
  statuses(): {
    repo: string;
    sha: string;
    state: string;
    context: string;
    description?: string;
    target_url?: string;
  }[];
  answerNext(...answers: ScriptedAnswer[]): void;
  close(): Promise<void>;
}

export async function startGithubStandIn(options: StandInOptions = {}): Promise<GithubStandIn> {
  const base = options.basePath ?? "";
  const requests: RecordedRequest[] = [];
  const scripted: ScriptedAnswer[] = [];
  const branches = new Map<string, Map<string, string>>();
  const hooks: Hook[] = [];
  const keys: DeployKey[] = [];
  let nextId = 1000;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = text;
    }
    const url = new URL(req.url ?? "/", "http://stand-in");
    const method = req.method ?? "GET";
    const path = url.pathname.startsWith(base) ? url.pathname.slice(base.length) : url.pathname;
    const send = (status: number, answer?: unknown, headers: Record<string, string> = {}) => {
      requests.push({ method, path, query: url.searchParams, headers: req.headers, body, status });
      res.writeHead(status, { "content-type": "application/json; charset=utf-8", ...headers });
      res.end(answer === undefined ? "" : JSON.stringify(answer));
    };
    const at = scripted.findIndex(
      (a) => (!a.method || a.method === method) && (!a.path || a.path.test(path)),
    );
    if (at >= 0) {
      const [answer] = scripted.splice(at, 1);
      return send(answer!.status, answer!.body ?? {}, answer!.headers);
    }
    const m = /^\/repos\/([^/]+)\/([^/]+)\/(statuses|hooks|keys|branches)(?:\/([^/]+))?$/.exec(path);
    if (!m) return send(404, { message: "Not Found" });
    const repo = `${decodeURIComponent(m[1]!)}/${decodeURIComponent(m[2]!)}`;
    const [, , , kind, id] = m;
    const input = (body ?? {}) as Record<string, unknown>;
    if (kind === "statuses" && method === "POST" && id) {
      return send(201, { id: nextId++, url: `${url.origin}${url.pathname}`, ...input, sha: id, repo });
    }
    if (kind === "hooks") {
      if (method === "POST" && !id) {
        const config = (input.config ?? {}) as Record<string, unknown>;
        if (hooks.some((h) => h.repo === repo && h.config.url === config.url))
          return send(422, {
            message: "Validation Failed",
            errors: [{ resource: "Hook", code: "custom", message: "Hook already exists on this repository" }],
          });
        const hook: Hook = {
          id: nextId++,
          repo,
          name: String(input.name ?? "web"),
          active: input.active !== false,
          events: (input.events as string[]) ?? ["push"],
          config,
        };
        hooks.push(hook);
        return send(201, { ...hook, config: { ...config, secret: "********" } });
      }
      if (method === "GET" && !id)
        return send(
          200,
          hooks
            .filter((h) => h.repo === repo)
            .map((h) => ({ ...h, config: { ...h.config, secret: "********" } })),
        );
      const hook = hooks.find((h) => h.repo === repo && String(h.id) === id);
      if (!hook) return send(404, { message: "Not Found" });
      if (method === "PATCH") {
        Object.assign(hook, {
          ...(input.events ? { events: input.events } : {}),
          ...(input.config ? { config: input.config } : {}),
        });
        return send(200, { ...hook, config: { ...hook.config, secret: "********" } });
      }
      if (method === "DELETE") {
        hooks.splice(hooks.indexOf(hook), 1);
        return send(204);
      }
    }
    if (kind === "keys") {
      if (method === "POST" && !id) {
        const key = String(input.key ?? "");
        if (keys.some((k) => k.repo === repo && k.key === key))
          return send(422, {
            message: "Validation Failed",
            errors: [
              { resource: "PublicKey", code: "custom", field: "key", message: "key is already in use" },
            ],
          });
        const created: DeployKey = {
          id: nextId++,
          repo,
          key,
          title: String(input.title ?? ""),
          read_only: input.read_only !== false,
        };
        keys.push(created);
        return send(201, created);
      }
      if (method === "GET" && !id)
        return send(
          200,
          keys.filter((k) => k.repo === repo),
        );
      const key = keys.find((k) => k.repo === repo && String(k.id) === id);
      if (!key) return send(404, { message: "Not Found" });
      if (method === "DELETE") {
        keys.splice(keys.indexOf(key), 1);
        return send(204);
      }
    }
    if (kind === "branches" && method === "GET" && !id) {
      const all = [...(branches.get(repo) ?? new Map())].map(([name, sha]) => ({
        name,
        commit: { sha, url: `${url.origin}${base}/repos/${repo}/commits/${sha}` },
        protected: false,
      }));
      const perPage = Number(url.searchParams.get("per_page") ?? 30);
      const page = Number(url.searchParams.get("page") ?? 1);
      const items = all.slice((page - 1) * perPage, page * perPage);
      const last = Math.max(1, Math.ceil(all.length / perPage));
      const link: Record<string, string> =
        page < last
          ? {
              link: `<${url.origin}${base}/repos/${repo}/branches?per_page=${perPage}&page=${page + 1}>; rel="next"`,
            }
          : {};
      return send(200, items, link);
    }
    return send(404, { message: "Not Found" });
  };

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch(() => {
      res.writeHead(500);
      res.end();
    });
  };
  const server = options.tls ? createHttpsServer(options.tls, listener) : createHttpServer(listener);
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${options.tls ? "https" : "http"}://127.0.0.1:${port}${base}`,
    requests,
    branches,
    hooks,
    keys,
    statuses: () =>
      requests
        .filter((r) => r.method === "POST" && r.path.includes("/statuses/") && r.status === 201)
        .map((r) => {
          const [, , owner, name, , sha] = r.path.split("/");
          return { repo: `${owner}/${name}`, sha: sha!, ...(r.body as { state: string; context: string }) };
        }),
    answerNext: (...answers) => scripted.push(...answers),
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections?.();
        server.close(() => ok());
      }),
  };
}
