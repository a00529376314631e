/**
 * The orb registry. A published orb version is one immutable object in the bucket,
 * `orbs/<namespace>/<orb>/<version>.yml`, holding the orb's source YAML exactly as
 * published. `publishOrb` checks and stores a version; `S3OrbResolver` is the config
 * engine's `OrbResolver` over the same objects (`@1`, `@1.2`, `@volatile` pick the newest
 * matching version with the engine's own rule, `resolveOrbVersion`).
 *
 * Caching, per process: version lists for 60 s, sources forever (a version never changes).
 * A list that has no match for a range is read again at once, so a version published a
 * moment ago in another process is found; an exact version (`@1.2.3`) is read directly and
 * needs no list at all.
 */
import { PutObjectCommand } from "@aws-sdk/client-s3";
import semver from "semver";
import { isMap, parseDocument } from "yaml";
import { listKeys, readText } from "../aws/s3.ts";
import {
  compileConfig,
  formatDiagnostic,
  type OrbResolver,
  parseOrbRef,
  resolveOrbVersion,
} from "../config/index.ts";
import type { Gyre } from "../context.ts";
import { badRequest, conflict, GyreError } from "../error.ts";

/** Where published orbs live in the bucket. */
export const ORB_PREFIX = "orbs/";
/** The largest orb source accepted (the API refuses bigger bodies with 413 too). */
export const MAX_ORB_BYTES = 1024 * 1024;
/** How long a process trusts a list of published versions. */
export const VERSION_LIST_TTL_MS = 60_000;

/** A published version: major.minor.patch, no pre-release or build part (what CircleCI publishes). */
const RELEASE = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;
/** What the engine treats as an exact pin (it then looks for exactly this string). */
const EXACT = /^\d+\.\d+\.\d+$/;
/** Orb sources a process keeps (each at most 1 MiB; real configs use a handful). */
const MAX_CACHED_SOURCES = 200;
const ORB_PARTS = ["commands", "jobs", "executors"] as const;

export interface PublishedOrb {
  /** `namespace/orb` */
  name: string;
  version: string;
  /** `false` when this very source was already published under this version (nothing changed). */
  created: boolean;
}

export interface OrbListing {
  name: string;
  /** Oldest first. */
  versions: string[];
}

const orbKey = (name: string, version: string) => `${ORB_PREFIX}${name}/${version}.yml`;

/** Validates `namespace/orb` and a release version; the names are those a config can reference. */
function checkNameAndVersion(name: string, version: string): void {
  const ref = parseOrbRef(`${name}@${version}`);
  if (!ref || ref.name !== name)
    throw badRequest(
      `"${name}" is not an orb name: use namespace/orb, letters, digits, "-" and "_" (e.g. acme/tools).`,
    );
  if (!RELEASE.test(version))
    throw badRequest(`"${version}" is not an orb version: publish a plain semantic version such as 1.2.3.`);
}

/**
 * Publishes `source` as orb `name` (`namespace/orb`) at `version`. A published version never
 * changes: publishing it again with the same source does nothing (`created: false`), with a
 * different source is a conflict. The source must be an orb the config engine accepts, and
 * every registry orb it imports must already be published.
 */
export async function publishOrb(
  gyre: Gyre,
  name: string,
  version: string,
  source: string,
): Promise<PublishedOrb> {
  checkNameAndVersion(name, version);
  if (Buffer.byteLength(source, "utf8") > MAX_ORB_BYTES)
    throw new GyreError("payload_too_large", `An orb may be at most ${MAX_ORB_BYTES} bytes.`);
  await checkOrbSource(gyre, name, version, source);

  const key = orbKey(name, version);
  const existing = await readText(gyre, key);
  if (existing !== undefined) return sameOrConflict(name, version, existing, source);
  try {
    await gyre.aws.s3.send(
      new PutObjectCommand({
        Bucket: gyre.resources.bucketName,
        Key: key,
        Body: source,
        ContentType: "application/yaml; charset=utf-8",
        // Two publishers racing on one version: S3 lets exactly one create it (s3rver, the
        // local stand-in, ignores the condition; there the later write wins).
        IfNoneMatch: "*",
      }),
    );
  } catch (error) {
    if (!isPreconditionFailure(error)) throw error;
    const winner = await readText(gyre, key);
    if (winner === undefined) throw error;
    return sameOrConflict(name, version, winner, source);
  }
  orbResolver(gyre).forget(name);
  return { name, version, created: true };
}

function sameOrConflict(name: string, version: string, published: string, source: string): PublishedOrb {
  if (published === source) return { name, version, created: false };
  throw conflict(
    `${name}@${version} is already published with different content; published versions never change, so publish a new version.`,
  );
}

function isPreconditionFailure(error: unknown): boolean {
  const status = (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata
    ?.httpStatusCode;
  return (
    error instanceof Error &&
    (error.name === "PreconditionFailed" || error.name === "ConditionalRequestConflict" || status === 412)
  );
}

const CANDIDATE = "candidate";

/**
 * Checks an orb with the config engine: the source must be a YAML map with commands, jobs or
 * executors, its definitions must be well formed, and the orbs it imports must resolve. The
 * engine reads it as a config importing it would (`orbs: {candidate: name@version}`), so an
 * orb that passes here loads in every config.
 */
async function checkOrbSource(gyre: Gyre, name: string, version: string, source: string): Promise<void> {
  const doc = parseDocument(source, { prettyErrors: false });
  if (
    doc.errors.length === 0 &&
    !(
      isMap(doc.contents) && ORB_PARTS.some((part) => (doc.contents as { has(k: string): boolean }).has(part))
    )
  )
    throw badRequest(
      `${name}@${version} is not an orb: the source must be a YAML map with at least one of commands, jobs or executors.`,
    );
  const registry = orbResolver(gyre);
  const config = [
    "version: 2.1",
    "orbs:",
    `  ${CANDIDATE}: ${name}@${version}`,
    "jobs:",
    "  build:",
    "    machine: true",
    "    steps:",
    "      - run: 'true'",
    "",
  ].join("\n");
  const result = await compileConfig(config, {
    pipeline: {
      id: "00000000-0000-0000-0000-000000000001",
      number: 1,
      revision: "",
      gitUrl: "",
      projectType: "github",
      triggerSource: "api",
    },
    orbs: {
      resolve: (n, range) =>
        n === name && range === version ? Promise.resolve(source) : registry.resolve(n, range),
    },
  });
  if (result.ok) return;
  const label = ` (in orb ${name}@${version})`;
  const at = `orbs.${CANDIDATE}`;
  const messages = result.errors.map((d) => {
    const path = d.path === at ? "" : d.path.startsWith(`${at}.`) ? d.path.slice(at.length + 1) : d.path;
    return formatDiagnostic({ ...d, path, message: d.message.replace(label, "") });
  });
  throw badRequest(`${name}@${version} is not a valid orb:\n${messages.join("\n")}`, result.errors);
}

/** Every published orb with its versions, by name. */
export async function listOrbs(gyre: Gyre): Promise<OrbListing[]> {
  const byName = new Map<string, string[]>();
  for (const key of await listKeys(gyre, ORB_PREFIX)) {
    const m = /^orbs\/([^/]+\/[^/]+)\/([^/]+)\.yml$/.exec(key);
    if (!m) continue;
    const versions = byName.get(m[1]!) ?? [];
    versions.push(m[2]!);
    byName.set(m[1]!, versions);
  }
  return [...byName]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, versions]) => ({ name, versions: sortVersions(versions) }));
}

const sortVersions = (versions: string[]) =>
  versions.filter((v) => semver.valid(v) !== null).sort(semver.compare);

/** The published versions of one orb, oldest first (read from the bucket, uncached). */
export async function publishedVersions(gyre: Gyre, name: string): Promise<string[]> {
  const prefix = `${ORB_PREFIX}${name}/`;
  const keys = await listKeys(gyre, prefix);
  return sortVersions(
    keys
      .filter((k) => k.endsWith(".yml") && !k.slice(prefix.length).includes("/"))
      .map((k) => k.slice(prefix.length, -4)),
  );
}

/** The engine's orb port over the bucket, with the per-process caches described above. */
export class S3OrbResolver implements OrbResolver {
  private readonly lists = new Map<string, { at: number; versions: Promise<string[]> }>();
  private readonly sources = new Map<string, Promise<string | undefined>>();

  constructor(
    private readonly gyre: Gyre,
    private readonly listTtlMs = VERSION_LIST_TTL_MS,
  ) {}

  async resolve(name: string, versionRange: string): Promise<string | undefined> {
    const ref = parseOrbRef(`${name}@${versionRange}`);
    if (!ref || ref.name !== name) return undefined;
    if (EXACT.test(versionRange)) return this.source(name, versionRange);
    let { versions, fresh } = this.versions(name);
    let version = resolveOrbVersion(versionRange, await versions);
    if (version === undefined && !fresh) {
      this.forget(name);
      ({ versions } = this.versions(name));
      version = resolveOrbVersion(versionRange, await versions);
    }
    return version === undefined ? undefined : this.source(name, version);
  }

  /** Drops the cached version list of `name` (after a publish in this process). */
  forget(name: string): void {
    this.lists.delete(name);
  }

  private versions(name: string): { versions: Promise<string[]>; fresh: boolean } {
    const now = this.gyre.now();
    const cached = this.lists.get(name);
    if (cached && now - cached.at < this.listTtlMs) return { versions: cached.versions, fresh: false };
    const versions = publishedVersions(this.gyre, name);
    const entry = { at: now, versions };
    this.lists.set(name, entry);
    versions.catch(() => {
      if (this.lists.get(name) === entry) this.lists.delete(name);
    });
    return { versions, fresh: true };
  }

  private source(name: string, version: string): Promise<string | undefined> {
    const id = `${name}@${version}`;
    let source = this.sources.get(id);
    if (!source) {
      if (this.sources.size >= MAX_CACHED_SOURCES) this.sources.clear();
      source = readText(this.gyre, orbKey(name, version));
      this.sources.set(id, source);
      // Keep only what exists: a version published later must be found, and a failure retried.
      source.then(
        (text) => {
          if (text === undefined) this.sources.delete(id);
        },
        () => this.sources.delete(id),
      );
    }
    return source;
  }
}

const resolvers = new WeakMap<Gyre, S3OrbResolver>();

/** The process's resolver for this context, made on first use. */
export function orbResolver(gyre: Gyre): S3OrbResolver {
  let resolver = resolvers.get(gyre);
  if (!resolver) {
    resolver = new S3OrbResolver(gyre);
    resolvers.set(gyre, resolver);
  }
  return resolver;
}
