/**
 * Every read and write of the web app goes through the public API (v2, v1.1, Gyre's own under
 * /api/gyre, the Nomad API) with the browser's session cookie; a write carries the session's
 * CSRF token. An answer that is not 2xx becomes an ApiError with the API's own message.
 */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body?: unknown,
  ) {
    super(message);
  }
}

let csrfToken: string | undefined;

/** Set once the session is known (GET /api/gyre/auth/session). */
export function setCsrfToken(token: string | undefined) {
  csrfToken = token;
}

async function send(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET" && csrfToken) headers["x-csrf-token"] = csrfToken;
  return fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
}

async function answer<T>(response: Response): Promise<T> {
  const text = await response.text();
  let json: unknown;
  try {
    json = text === "" ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (!response.ok) {
    const message =
      (json as { message?: string } | undefined)?.message ?? `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, message, json);
  }
  return json as T;
}

export const api = {
  get: async <T>(path: string, signal?: AbortSignal) => answer<T>(await send("GET", path, undefined, signal)),
  post: async <T>(path: string, body?: unknown) => answer<T>(await send("POST", path, body ?? {})),
  put: async <T>(path: string, body?: unknown) => answer<T>(await send("PUT", path, body ?? {})),
  patch: async <T>(path: string, body?: unknown) => answer<T>(await send("PATCH", path, body ?? {})),
  delete: async <T>(path: string) => answer<T>(await send("DELETE", path)),
};

/** A query string from the defined values only. */
export function query(values: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(values)) if (v !== undefined && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

/** A project slug's path form, each part escaped: `gh/acme/api`. */
export const slugPath = (slug: string) => slug.split("/").map(encodeURIComponent).join("/");
