/**
 * Artifact serving policy (CircleCI Server 2.17 Operations Guide, "Safe and Unsafe Content
 * Types"). An artifact is uploaded by a build, so it is untrusted: served from our origin as
 * HTML it could act as the signed-in user.
 *
 * - Safe types are served as themselves: text/plain, application/json, image/png, image/jpeg
 *   (the guide's "jpg"), image/gif, image/bmp, video/webm, video/ogg, video/mp4, audio/webm,
 *   audio/aac, audio/mp4, audio/mpeg, audio/ogg, audio/wav.
 * - text/html, text/css, text/javascript, text/ecmascript, application/javascript,
 *   application/ecmascript and text/xml are rendered as text/plain.
 * - Anything else is unsafe: served as application/octet-stream with
 *   `Content-Disposition: attachment`, unless the operator allows unsafe content types, in
 *   which case every type (including the rendered-as-text ones) is served as itself.
 * - Always `X-Content-Type-Options: nosniff`, so a browser never second-guesses the type, and
 *   `Content-Security-Policy: sandbox` with `Referrer-Policy: no-referrer`: even an HTML
 *   artifact served as itself (allowUnsafe) runs no script on Gyre's origin and leaks no URL
 *   (a download URL may carry a `circle-token`).
 *
 * The type comes from the stored content type when one is recorded (and is not the generic
 * application/octet-stream), else from the file extension, else application/octet-stream.
 * A `charset` parameter is kept on textual types.
 */

export interface ArtifactResponseInput {
  /** The artifact's path or file name, e.g. `coverage/index.html`. */
  path: string;
  /** The content type recorded at upload, if any (e.g. the S3 object's ContentType). */
  storedContentType?: string;
  /** The operator setting "Serve artifacts with unsafe content-types". */
  allowUnsafe: boolean;
}

export interface ArtifactResponse {
  /** The `Content-Type` header value to serve. */
  contentType: string;
  /** Every header to set, `Content-Type` included. */
  headers: Record<string, string>;
  /** How the policy classified the artifact's type. */
  disposition: "safe" | "as-text" | "unsafe-allowed" | "download";
}

export const SAFE_TYPES: ReadonlySet<string> = new Set([
  "text/plain",
  "application/json",
  "image/png",
  "image/jpeg",
  "image/gif",
  "image/bmp",
  "video/webm",
  "video/ogg",
  "video/mp4",
  "audio/webm",
  "audio/aac",
  "audio/mp4",
  "audio/mpeg",
  "audio/ogg",
  "audio/wav",
]);

export const RENDERED_AS_TEXT: ReadonlySet<string> = new Set([
  "text/html",
  "text/css",
  "text/javascript",
  "text/ecmascript",
  "application/javascript",
  "application/ecmascript",
  "text/xml",
]);

const OCTET_STREAM = "application/octet-stream";

/** Extension → type; lowercase, without the dot. Unknown extensions are octet-stream. */
const TYPE_BY_EXTENSION: Readonly<Record<string, string>> = {
  txt: "text/plain",
  log: "text/plain",
  out: "text/plain",
  text: "text/plain",
  md: "text/plain",
  csv: "text/plain",
  json: "application/json",
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  bmp: "image/bmp",
  webm: "video/webm",
  ogv: "video/ogg",
  mp4: "video/mp4",
  m4v: "video/mp4",
  weba: "audio/webm",
  aac: "audio/aac",
  m4a: "audio/mp4",
  mp3: "audio/mpeg",
  oga: "audio/ogg",
  ogg: "audio/ogg",
  opus: "audio/ogg",
  wav: "audio/wav",
  html: "text/html",
  htm: "text/html",
  css: "text/css",
  js: "text/javascript",
  mjs: "text/javascript",
  cjs: "text/javascript",
  es: "application/ecmascript",
  xml: "text/xml",
  svg: "image/svg+xml",
  pdf: "application/pdf",
  zip: "application/zip",
  gz: "application/gzip",
  tgz: "application/gzip",
  tar: "application/x-tar",
  jar: "application/java-archive",
  wasm: "application/wasm",
  xhtml: "application/xhtml+xml",
};

/** Names some uploaders use for a safe type. */
const ALIASES: Readonly<Record<string, string>> = {
  "image/jpg": "image/jpeg",
};

const TEXTUAL = /^text\/|^application\/(json|javascript|ecmascript)$/;
const TOKEN = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

/** The `Content-Type` and headers to serve an artifact with. */
/** Sent with every artifact, whatever its type. */
export const PROTECTIVE_HEADERS = {
  "X-Content-Type-Options": "nosniff",
  "Content-Security-Policy": "sandbox",
  "Referrer-Policy": "no-referrer",
} as const;

export function artifactResponse(input: ArtifactResponseInput): ArtifactResponse {
  const { type, charset } = artifactType(input.path, input.storedContentType);
  const withCharset = (t: string) => (charset && TEXTUAL.test(t) ? `${t}; charset=${charset}` : t);
  const respond = (contentType: string, disposition: ArtifactResponse["disposition"], extra = {}) => ({
    contentType,
    disposition,
    headers: { "Content-Type": contentType, ...PROTECTIVE_HEADERS, ...extra },
  });
  if (SAFE_TYPES.has(type)) return respond(withCharset(type), "safe");
  if (input.allowUnsafe) return respond(withCharset(type), "unsafe-allowed");
  if (RENDERED_AS_TEXT.has(type)) return respond(withCharset("text/plain"), "as-text");
  return respond(OCTET_STREAM, "download", { "Content-Disposition": attachment(fileName(input.path)) });
}

/** The artifact's own type (before the policy) and its charset parameter, if any. */
export function artifactType(path: string, storedContentType?: string): { type: string; charset?: string } {
  const stored = storedContentType ? parseContentType(storedContentType) : undefined;
  if (stored && stored.type !== OCTET_STREAM && stored.type !== "binary/octet-stream") return stored;
  return { type: typeByExtension(path) };
}

function typeByExtension(path: string): string {
  const name = fileName(path);
  const dot = name.lastIndexOf(".");
  if (dot <= 0) return OCTET_STREAM;
  return TYPE_BY_EXTENSION[name.slice(dot + 1).toLowerCase()] ?? OCTET_STREAM;
}

function parseContentType(value: string): { type: string; charset?: string } | undefined {
  const [essence = "", ...parameters] = value.split(";");
  const lower = essence.trim().toLowerCase();
  const [top, sub, ...rest] = lower.split("/");
  if (!top || !sub || rest.length > 0 || !TOKEN.test(top) || !TOKEN.test(sub)) return undefined;
  const type = ALIASES[lower] ?? lower;
  for (const parameter of parameters) {
    const [name, raw] = parameter.split("=", 2).map((part) => part.trim());
    const charset = raw?.replace(/^"(.*)"$/, "$1");
    if (name?.toLowerCase() === "charset" && charset && TOKEN.test(charset))
      return { type, charset: charset.toLowerCase() };
  }
  return { type };
}

function fileName(path: string): string {
  const parts = path.split("/").filter((part) => part.length > 0);
  return parts[parts.length - 1] ?? "artifact";
}

/** `attachment` with an ASCII fallback name and the exact UTF-8 name (RFC 6266 / 5987). */
function attachment(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]/g, "_").replace(/["\\]/g, "_");
  const wellFormed = name.replace(
    /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g,
    "\uFFFD",
  );
  const exact = encodeURIComponent(wellFormed).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `attachment; filename="${ascii}"; filename*=UTF-8''${exact}`;
}
