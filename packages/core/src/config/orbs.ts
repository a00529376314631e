/**
 * Orbs: references (`circleci/node@5.1.0`), the resolver port that fetches a published
 * orb's source YAML (Gyre's registry lives in S3; the adapter is elsewhere), an in-memory
 * resolver for tests and local use, and the version-range rule CircleCI applies:
 * `@5` and `@5.1` mean the newest published 5.x.y / 5.1.y, `@volatile` the newest of all,
 * `@5.1.0` exactly that, `@dev:label` exactly that development version.
 */
import semver from "semver";
import { LineCounter } from "yaml";
import { type Diagnostics, describeType } from "./diagnostics.ts";
import { brokenNamespace, type Namespace, readNamespace } from "./expand.ts";
import { isMapping, type Mapping, parseYaml, type Source } from "./yaml.ts";

export interface OrbResolver {
  /**
   * The source YAML of orb `name` (`namespace/orb`) at `versionRange` as written after the
   * `@`, or `undefined` when nothing published matches.
   */
  resolve(name: string, versionRange: string): Promise<string | undefined>;
}

export interface OrbRef {
  namespace: string;
  orb: string;
  /** `namespace/orb` */
  name: string;
  version: string;
}

const REF = /^([A-Za-z0-9][A-Za-z0-9_-]*)\/([A-Za-z0-9][A-Za-z0-9_-]*)@(\S+)$/;

export function parseOrbRef(ref: string): OrbRef | undefined {
  const m = REF.exec(ref.trim());
  if (!m) return undefined;
  return { namespace: m[1]!, orb: m[2]!, name: `${m[1]}/${m[2]}`, version: m[3]! };
}

/** Whether a version (as written after `@`) has a shape CircleCI accepts. */
export function isValidVersionRange(range: string): boolean {
  return range === "volatile" || /^dev:[A-Za-z0-9_.-]+$/.test(range) || /^\d+(\.\d+(\.\d+)?)?$/.test(range);
}

/** The newest published version that `range` selects, or `undefined`. */
export function resolveOrbVersion(range: string, published: readonly string[]): string | undefined {
  if (range.startsWith("dev:")) return published.includes(range) ? range : undefined;
  const releases = published.filter((v) => semver.valid(v) !== null && semver.prerelease(v) === null);
  if (range === "volatile") return semver.maxSatisfying(releases, "*") ?? undefined;
  if (!/^\d+(\.\d+(\.\d+)?)?$/.test(range)) return undefined;
  if (/^\d+\.\d+\.\d+$/.test(range)) return releases.includes(range) ? range : undefined;
  return semver.maxSatisfying(releases, range) ?? undefined;
}

/** Orbs held in memory: publish sources by name and version, resolve ranges as the registry does. */
export class InMemoryOrbResolver implements OrbResolver {
  private readonly orbs = new Map<string, Map<string, string>>();

  publish(name: string, version: string, source: string): this {
    let versions = this.orbs.get(name);
    if (!versions) {
      versions = new Map();
      this.orbs.set(name, versions);
    }
    versions.set(version, source);
    return this;
  }

  versions(name: string): string[] {
    return [...(this.orbs.get(name)?.keys() ?? [])];
  }

  async resolve(name: string, versionRange: string): Promise<string | undefined> {
    const versions = this.orbs.get(name);
    if (!versions) return undefined;
    const v = resolveOrbVersion(versionRange, [...versions.keys()]);
    return v === undefined ? undefined : versions.get(v);
  }
}

/** What orb loading needs from the compile. */
export interface OrbLoadContext {
  resolver: OrbResolver | undefined;
  diags: Diagnostics;
  /** Applies `<< pipeline.x >>` to an orb's source, as to the config. */
  substitute: (value: unknown) => unknown;
  /** Parsed registry orbs of this compile, by `name@version`. */
  cache: Map<string, Promise<string | undefined | Error>>;
}

const MAX_ORB_DEPTH = 8;

/** The orb namespaces of an `orbs:` block (registry and inline), each with its own imports. */
export async function loadOrbs(
  block: unknown,
  owner: Mapping,
  prefix: string,
  ctx: OrbLoadContext,
  depth = 0,
): Promise<Map<string, Namespace>> {
  const out = new Map<string, Namespace>();
  if (block === undefined || block === null) return out;
  const { diags } = ctx;
  if (!isMapping(block)) {
    diags.error(
      owner,
      "orbs",
      `"orbs" must be a map of names to orb references or inline orbs, not ${describeType(block)}`,
      "value",
    );
    return out;
  }
  if (depth > MAX_ORB_DEPTH) {
    diags.error(owner, "orbs", `orbs import each other more than ${MAX_ORB_DEPTH} levels deep`);
    return out;
  }
  // Fetch every registry orb of this block at once, then read them in the order written.
  const entries = Object.entries(block);
  const fetched = await Promise.all(
    entries.map(async ([, v]) => {
      if (typeof v !== "string") return undefined;
      const ref = parseOrbRef(v);
      if (!ref) return undefined;
      const id = `${ref.name}@${ref.version}`;
      let p = ctx.cache.get(id);
      if (!p) {
        p = fetchOrb(ctx.resolver, ref);
        ctx.cache.set(id, p);
      }
      return p;
    }),
  );
  for (let i = 0; i < entries.length; i++) {
    const [alias, v] = entries[i]!;
    const path = prefix ? `${prefix}.orbs.${alias}` : `orbs.${alias}`;
    if (alias.includes("/")) diags.error(block, alias, `an orb name cannot contain "/"`);
    if (typeof v === "string") {
      const ref = parseOrbRef(v);
      if (!ref || !isValidVersionRange(ref.version)) {
        diags.error(
          block,
          alias,
          `orb reference "${v}" must look like namespace/orb@version (e.g. circleci/node@5.1.0)`,
          "value",
        );
        continue;
      }
      const got = await fetched[i];
      if (got instanceof Error) {
        diags.error(block, alias, `could not fetch orb ${v}: ${got.message}`, "value");
        out.set(alias, brokenNamespace(alias));
        continue;
      }
      if (got === undefined) {
        diags.error(block, alias, missingOrbMessage(ref), "value");
        out.set(alias, brokenNamespace(alias));
        continue;
      }
      const src: Source = { prefix: path, label: `${ref.name}@${ref.version}`, counter: new LineCounter() };
      const parsed = parseYaml(got, src);
      for (const e of parsed.errors) diags.add(e);
      if (parsed.errors.length > 0) {
        out.set(alias, brokenNamespace(alias));
        continue;
      }
      const orbRoot = ctx.substitute(parsed.value);
      if (!isMapping(orbRoot)) {
        diags.error(block, alias, `orb ${v} is not a map of commands, jobs and executors`, "value");
        out.set(alias, brokenNamespace(alias));
        continue;
      }
      const nested = await loadOrbs(orbRoot.orbs, orbRoot, path, ctx, depth + 1);
      out.set(alias, readNamespace(alias, orbRoot, nested, diags));
    } else if (isMapping(v)) {
      const nested = await loadOrbs(v.orbs, v, path, ctx, depth + 1);
      out.set(alias, readNamespace(alias, v, nested, diags));
    } else {
      diags.error(
        block,
        alias,
        `orb "${alias}" must be a reference (namespace/orb@version) or an inline orb map`,
        "value",
      );
    }
  }
  return out;
}

/** The error for an orb no published version matches. */
export function missingOrbMessage(ref: OrbRef): string {
  return `orb ${ref.name}@${ref.version} not found: no published version of ${ref.name} matches "${ref.version}"`;
}

async function fetchOrb(resolver: OrbResolver | undefined, ref: OrbRef): Promise<string | undefined | Error> {
  if (!resolver) return undefined;
  try {
    return await resolver.resolve(ref.name, ref.version);
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
}
