/**
 * People, tokens and the installation's settings from the command line, the reference's
 * "Managing User Accounts" procedures, through Gyre's own API (packages/functions/src/http/
 * users.ts and the v1.1 project token routes):
 *
 *   gyre token create <label> [--operator] [--json] | list [--json] | revoke <id>
 *   gyre user list [--state active|inactive|suspended|suspended-new] [--json]
 *   gyre user show|suspend|activate <login or id>, role <login or id> admin|normal, delete <login or id> --yes
 *   gyre settings get [<name>] [--json] | set <name>=<value> ... | ldap-test <username>
 *   gyre project token create <slug> <label> --scope status|view-builds|all | list <slug> | delete <slug> <id>
 *   gyre admin bootstrap [--login admin] [--name N] [--force] [--json]
 *
 * A user is named by login or id: a login is looked up in the users list (exact match; none or
 * several is an error that says so). Tokens are printed once, when made.
 *
 * `gyre admin bootstrap` is the exception: it runs without the API, straight against the
 * installation's table with the operator's AWS credentials and the stage's SST links in the
 * environment (`npx sst shell --stage prod -- npx gyre admin bootstrap`), to make the first
 * administrator and their token after a deploy (core/src/auth/bootstrap.ts).
 */
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { createInterface } from "node:readline";
import { ApiError, type Client } from "./client.ts";
import { columns } from "./nomad-commands.ts";

type Print = (line: string) => void;

interface TokenJson {
  id: string;
  label: string;
  kind: string;
  created_at: string | null;
  last_used_at: string | null;
}

interface UserJson {
  id: string;
  login: string;
  name: string;
  email: string | null;
  role: "admin" | "normal";
  state: string;
  provider: string;
  github_login: string | null;
  ldap_dn: string | null;
  created_at: string;
  last_seen_at: string | null;
}

interface UsersJson {
  items: UserJson[];
  seats: number;
  counts: Record<string, number>;
}

interface ProjectTokenJson {
  id: string;
  label: string;
  scope: string;
  time: string | null;
  last_used_at: string | null;
}

interface LdapTestJson {
  ok: boolean;
  steps: { step: string; ok: boolean; detail: string }[];
}

export const USER_STATES = ["active", "inactive", "suspended", "suspended-new"] as const;
export const PROJECT_TOKEN_SCOPES = ["status", "view-builds", "all"] as const;

/** A time as the tables show it: `2026-01-31 14:05` (UTC), or `never`. */
const when = (at: string | null | undefined) => (at ? `${at.slice(0, 10)} ${at.slice(11, 16)}` : "never");

const json = (value: unknown) => JSON.stringify(value, null, 2);

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

// ---------------------------------------------------------------------------------------------
// gyre token

/** `gyre token create|list|revoke`; undefined when the arguments are not one of them. */
export async function tokenCommand(
  client: Client,
  args: string[],
  options: { operator?: boolean; json?: boolean },
  print: Print,
): Promise<number | undefined> {
  const [action, arg, ...extra] = args;
  if (extra.length > 0) return undefined;
  if (action === "create" && arg) {
    const created = await client.post<TokenJson & { token: string }>("/api/gyre/me/tokens", {
      label: arg,
      kind: options.operator ? "operator" : "personal",
    });
    if (options.json) print(json(created));
    else {
      print(`Created ${created.kind} token "${created.label}" (id ${created.id}):`);
      print(created.token);
      print("It will not be shown again: copy it now.");
    }
    return 0;
  }
  if (action === "list" && !arg) {
    const answer = await client.get<{ items: TokenJson[] }>("/api/gyre/me/tokens");
    const { items } = answer;
    if (options.json) print(json(answer));
    else if (items.length === 0) print('You have no tokens: make one with gyre token create "<label>".');
    else
      for (const line of columns([
        ["ID", "LABEL", "KIND", "CREATED", "LAST USED"],
        ...items.map((t) => [t.id, t.label, t.kind, when(t.created_at), when(t.last_used_at)]),
      ]))
        print(line);
    return 0;
  }
  if (action === "revoke" && arg) {
    const answer = await client
      .request<{ message: string }>("DELETE", `/api/gyre/me/tokens/${encodeURIComponent(arg)}`)
      .catch((error: unknown) => {
        // The server's "Token <id> not found.", and where the ids are.
        if (error instanceof ApiError && error.status === 404)
          throw new ApiError(
            404,
            `${error.message.replace(/\.?$/, "")}: list your tokens with gyre token list.`,
          );
        throw error;
      });
    print(answer.message);
    return 0;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// gyre user

/** The user a login or id names, from the users list: exactly one, or an error that says why. */
export async function resolveUser(client: Client, ref: string): Promise<UserJson> {
  const { items } = await client.get<UsersJson>("/api/gyre/users");
  const byId = items.find((u) => u.id === ref.toLowerCase());
  if (byId) return byId;
  const matches = items.filter((u) => u.login === ref);
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0)
    throw new Error(`No user has the login or id "${ref}": gyre user list shows every user.`);
  throw new Error(
    `${matches.length} users have the login "${ref}": name one by id (${matches.map((u) => `${u.id}, ${u.provider}`).join("; ")}).`,
  );
}

function userLines(u: UserJson): string[] {
  const pairs: [string, string][] = [
    ["ID", u.id],
    ["Login", u.login],
    ["Name", u.name],
    ["Email", u.email ?? "-"],
    ["Role", u.role],
    ["State", u.state],
    ["Provider", u.provider],
    ["GitHub", u.github_login ?? "-"],
    ["LDAP DN", u.ldap_dn ?? "-"],
    ["Created", when(u.created_at)],
    ["Last seen", when(u.last_seen_at)],
  ];
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${k.padEnd(width)} = ${v}`);
}

/** `gyre user list|show|suspend|activate|role|delete`; undefined when the arguments are not one of them. */
export async function userCommand(
  client: Client,
  args: string[],
  options: { state?: string; json?: boolean; yes?: boolean },
  print: Print,
): Promise<number | undefined> {
  const [action, ref, arg, ...extra] = args;
  if (extra.length > 0) return undefined;
  const path = (u: UserJson, tail = "") => `/api/gyre/users/${encodeURIComponent(u.id)}${tail}`;

  if (action === "list" && !ref) {
    const state = options.state;
    if (state !== undefined && !(USER_STATES as readonly string[]).includes(state))
      throw new Error(`--state takes ${USER_STATES.join(", ")}, not "${state}".`);
    const answer = await client.get<UsersJson>("/api/gyre/users");
    const users = state ? answer.items.filter((u) => u.state === state) : answer.items;
    if (options.json) {
      print(json({ ...answer, items: users }));
      return 0;
    }
    if (users.length === 0) print(state ? `No user is ${state}.` : "No users yet.");
    else
      for (const line of columns([
        ["LOGIN", "NAME", "ROLE", "STATE", "PROVIDER", "LAST SEEN"],
        ...users.map((u) => [u.login, u.name, u.role, u.state, u.provider, when(u.last_seen_at)]),
      ]))
        print(line);
    // Seats count every user: under a list of some of them, the figure would read as theirs.
    if (!state) print(`${plural(answer.seats, "seat")} in use`);
    return 0;
  }
  if (!ref || (action !== "role" && arg !== undefined)) return undefined;

  if (action === "show") {
    const user = await resolveUser(client, ref);
    // Read by id as well: the list may be a moment old.
    const fresh = await client.get<UserJson>(path(user));
    for (const line of options.json ? [json(fresh)] : userLines(fresh)) print(line);
    return 0;
  }
  if (action === "suspend" || action === "activate") {
    const before = await resolveUser(client, ref);
    const after = await client.post<UserJson>(path(before, `/${action}`), {});
    if (before.state === after.state) print(`${after.login} is ${after.state} already: nothing changed.`);
    else if (action === "suspend")
      print(`Suspended ${after.login}: their sessions are ended and their tokens refused.`);
    else print(`Activated ${after.login} (was ${before.state}).`);
    return 0;
  }
  if (action === "role") {
    if (arg !== "admin" && arg !== "normal")
      throw new Error(
        arg === undefined
          ? `gyre user role ${ref} needs a role: the role must be admin or normal.`
          : `The role must be admin or normal, not "${arg}": gyre user role ${ref} admin|normal.`,
      );
    const before = await resolveUser(client, ref);
    const after = await client.request<UserJson>("PATCH", path(before), { role: arg });
    print(
      before.role === after.role
        ? `${after.login} is ${after.role === "admin" ? "an administrator" : "a normal user"} already: nothing changed.`
        : `${after.login} is now ${after.role === "admin" ? "an administrator" : "a normal user"}.`,
    );
    return 0;
  }
  if (action === "delete") {
    if (!options.yes)
      throw new Error(
        `Deleting ${ref} removes the user with their tokens, sessions and sign-in identities, for good ` +
          "(their pipelines stay): run again with --yes to delete them. To keep them out for now, gyre user suspend.",
      );
    const user = await resolveUser(client, ref);
    const answer = await client.request<{ message: string; removed: Record<string, number> }>(
      "DELETE",
      path(user),
    );
    const removed = Object.entries(answer.removed).map(([kind, n]) => `${n} ${kind.toLowerCase()}`);
    print(`${answer.message}${removed.length ? ` Removed with them: ${removed.join(", ")}.` : ""}`);
    return 0;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// gyre settings

const isSection = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value);

/**
 * The settings one a line, `name=<JSON>` (a section's fields as `section.field=<JSON>`), as `set`
 * takes them: a line pasted back (quoted for the shell) sets what it shows.
 */
export function settingLines(settings: Record<string, unknown>, only?: (name: string) => boolean): string[] {
  const lines: string[] = [];
  for (const [name, value] of Object.entries(settings)) {
    if (isSection(value))
      for (const [field, v] of Object.entries(value)) {
        if (!only || only(name) || only(`${name}.${field}`))
          lines.push(`${name}.${field}=${JSON.stringify(v)}`);
      }
    else if (!only || only(name)) lines.push(`${name}=${JSON.stringify(value)}`);
  }
  return lines;
}

/**
 * The settings (and section fields, as `section.field`) whose value is a list, from the settings
 * as the API answers them (every setting is there, with its default): today `required_orgs`.
 */
export function listSettings(settings: Record<string, unknown>): Set<string> {
  const names = new Set<string>();
  for (const [name, value] of Object.entries(settings)) {
    if (Array.isArray(value)) names.add(name);
    else if (isSection(value))
      for (const [field, v] of Object.entries(value)) if (Array.isArray(v)) names.add(`${name}.${field}`);
  }
  return names;
}

/**
 * A value as `set` reads it: JSON when it parses; `@file` is the file's (JSON, or its text). For
 * a list setting (`list`), a value that is not JSON is a comma-separated list, as the reference
 * writes one: `acme, foo` is `["acme","foo"]` (each trimmed, empty ones dropped: `` is `[]`).
 */
export function settingValue(
  raw: string,
  readFile: (path: string) => string = (p) => readFileSync(p, "utf8"),
  list = false,
) {
  const text = (value: string) =>
    list
      ? value
          .split(",")
          .map((item) => item.trim())
          .filter((item) => item !== "")
      : value;
  if (raw.startsWith("@") && raw.length > 1) {
    const file = raw.slice(1);
    let content: string;
    try {
      content = readFile(file);
    } catch (error) {
      throw new Error(`Cannot read ${file}: ${(error as Error).message}`);
    }
    try {
      return JSON.parse(content) as unknown;
    } catch (error) {
      if (file.endsWith(".json")) throw new Error(`${file} is not JSON: ${(error as Error).message}`);
      return text(content);
    }
  }
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return text(raw);
  }
}

/** The name `name=value` sets; an error that says the form when it is not that. */
function assignmentName(assignment: string): string {
  const eq = assignment.indexOf("=");
  if (eq <= 0) throw new Error(`"${assignment}" is not <name>=<value> (for example suspend_new_users=true).`);
  return assignment.slice(0, eq);
}

/**
 * `name=value ...` as one PATCH body; `section.field=value` changes one field of a section. The
 * names in `lists` (see `listSettings`) take a comma-separated value too.
 */
export function settingsPatch(
  assignments: string[],
  readFile?: (path: string) => string,
  lists: ReadonlySet<string> = new Set(),
): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  for (const assignment of assignments) {
    const name = assignmentName(assignment);
    const value = settingValue(assignment.slice(name.length + 1), readFile, lists.has(name));
    const dot = name.indexOf(".");
    if (dot < 0) {
      patch[name] = value;
      continue;
    }
    const [section, field] = [name.slice(0, dot), name.slice(dot + 1)];
    if (!section || !field || field.includes("."))
      throw new Error(`"${name}" is not <setting> or <section>.<field> (for example ldap.host).`);
    const current = patch[section];
    if (current !== undefined && !isSection(current))
      throw new Error(`${section} is given a whole value and ${name} a field of it: give one or the other.`);
    patch[section] = { ...(current ?? {}), [field]: value };
  }
  return patch;
}

/** What `get` prints for one setting: a string as it is, anything else as JSON. */
function settingOf(settings: Record<string, unknown>, name: string): unknown {
  const dot = name.indexOf(".");
  const top = dot < 0 ? name : name.slice(0, dot);
  if (!(top in settings))
    throw new Error(`There is no setting ${top}: the settings are ${Object.keys(settings).join(", ")}.`);
  if (dot < 0) return settings[top];
  const section = settings[top];
  const field = name.slice(dot + 1);
  if (!isSection(section))
    throw new Error(`${top} is ${section === null ? "not set" : "not a section"}: it has no ${field}.`);
  return section[field] ?? null;
}

/** `gyre settings get|set|ldap-test`; undefined when the arguments are not one of them. */
export async function settingsCommand(
  client: Client,
  args: string[],
  options: { json?: boolean },
  print: Print,
): Promise<number | undefined> {
  const [action, ...rest] = args;
  if (action === "get" && rest.length <= 1) {
    const settings = await client.get<Record<string, unknown>>("/api/gyre/settings");
    const name = rest[0];
    if (name === undefined) {
      for (const line of options.json ? [json(settings)] : settingLines(settings)) print(line);
      return 0;
    }
    const value = settingOf(settings, name);
    print(typeof value === "string" && !options.json ? value : json(value));
    return 0;
  }
  if (action === "set" && rest.length > 0) {
    const given = new Set(rest.map(assignmentName));
    // The settings as they are say which take a list (and so `a,b`).
    const current = await client.get<Record<string, unknown>>("/api/gyre/settings");
    const patch = settingsPatch(rest, undefined, listSettings(current));
    const settings = await client.request<Record<string, unknown>>("PATCH", "/api/gyre/settings", patch);
    print(`Set ${[...given].join(", ")}; now:`);
    for (const line of settingLines(settings, (n) => given.has(n))) print(`  ${line}`);
    return 0;
  }
  if (action === "ldap-test" && rest.length === 1) {
    const username = rest[0]!;
    const password = await readPassword(`LDAP password of ${username}: `);
    const answer = await client.post<LdapTestJson>("/api/gyre/settings/ldap/test", { username, password });
    if (options.json) print(json(answer));
    else {
      for (const step of answer.steps) print(`${step.ok ? "✓" : "✗"} ${step.step}: ${step.detail}`);
      print(
        answer.ok
          ? `${username} can sign in with these LDAP settings.`
          : `${username} cannot sign in with these LDAP settings: see the step marked ✗.`,
      );
    }
    return answer.ok ? 0 : 1;
  }
  return undefined;
}

/**
 * The test user's password: GYRE_LDAP_TEST_PASSWORD, or a line of stdin (typed without echo on
 * a terminal), so that it is neither in the command line nor in the shell's history.
 */
async function readPassword(prompt: string): Promise<string> {
  const given = process.env.GYRE_LDAP_TEST_PASSWORD;
  if (given !== undefined) return given;
  const stdin = process.stdin;
  if (stdin.isTTY) return readHidden(prompt);
  const lines = createInterface({ input: stdin, terminal: false });
  try {
    for await (const line of lines) return line;
  } finally {
    lines.close();
  }
  throw new Error("No password: set GYRE_LDAP_TEST_PASSWORD or give the password on stdin.");
}

function readHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let value = "";
    const done = (error?: Error) => {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write("\n");
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === "\r" || ch === "\n" || ch === "\u0004") return done();
        if (ch === "\u0003") return done(new Error("Canceled."));
        if (ch === "\u007f" || ch === "\b") value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.setRawMode(true);
    stdin.setEncoding("utf8");
    stdin.on("data", onData);
    stdin.resume();
  });
}

// ---------------------------------------------------------------------------------------------
// gyre project token

const SLUG = /^[^/\s]+\/[^/\s]+\/[^/\s]+$/;

/** `gyre project token create|list|delete` (args after `token`); undefined when not one of them. */
export async function projectTokenCommand(
  client: Client,
  args: string[],
  options: { scope?: string; json?: boolean },
  print: Print,
): Promise<number | undefined> {
  const [action, slug, arg, ...extra] = args;
  if (!slug || extra.length > 0) return undefined;
  if (!SLUG.test(slug)) throw new Error(`"${slug}" is not a project slug such as gh/acme/api.`);
  const base = `/api/v1.1/project/${slug}/token`;
  if (action === "create" && arg) {
    const scope = options.scope;
    const scopes = "(status: badges and build status; view-builds: read its builds; all: read and trigger)";
    if (scope === undefined)
      throw new Error(`A project token needs --scope ${PROJECT_TOKEN_SCOPES.join("|")} ${scopes}.`);
    if (!(PROJECT_TOKEN_SCOPES as readonly string[]).includes(scope))
      throw new Error(
        `--scope ${JSON.stringify(scope)} is not one of ${PROJECT_TOKEN_SCOPES.join(", ")} ${scopes}.`,
      );
    const created = await client.post<ProjectTokenJson & { token: string }>(base, { label: arg, scope });
    if (options.json) print(json(created));
    else {
      print(
        `Created project token "${created.label}" for ${slug} (scope ${created.scope}, id ${created.id}):`,
      );
      print(created.token);
      print("It will not be shown again: copy it now.");
    }
    return 0;
  }
  if (action === "list" && !arg) {
    const items = await client.get<ProjectTokenJson[]>(base);
    if (options.json) print(json(items));
    else if (items.length === 0)
      print(
        `${slug} has no tokens: make one with gyre project token create ${slug} "<label>" --scope status.`,
      );
    else
      for (const line of columns([
        ["ID", "LABEL", "SCOPE", "CREATED", "LAST USED"],
        ...items.map((t) => [t.id, t.label, t.scope, when(t.time), when(t.last_used_at)]),
      ]))
        print(line);
    return 0;
  }
  if (action === "delete" && arg) {
    await client.request("DELETE", `${base}/${encodeURIComponent(arg)}`);
    print(`Deleted token ${arg} of ${slug}: it is refused from now on.`);
    return 0;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// gyre admin bootstrap

/**
 * Makes the first administrator and their token straight in the table the stage's SST links
 * name (SST_RESOURCE_Table, ...), with the AWS credentials of the environment.
 */
export async function adminBootstrap(
  options: { login?: string; name?: string; force?: boolean; json?: boolean },
  print: Print,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const [{ resourcesFromEnv, LinkNames }, { createGyre }, { KmsKeyPort }, { bootstrapAdmin }, auth] =
    await Promise.all([
      import("@gyre/core/resources"),
      import("@gyre/core/context"),
      import("@gyre/core/secret/kms-key-port"),
      import("@gyre/core/auth/bootstrap"),
      import("@gyre/core/auth/index"),
    ]);
  const resources = resourcesFromEnv(env);
  try {
    void resources.tableName;
  } catch {
    throw new Error(
      `SST_RESOURCE_${LinkNames.table} is not set: run this in the stage's shell, with AWS credentials for ` +
        "its account: npx sst shell --stage <stage> -- npx gyre admin bootstrap",
    );
  }
  // Nothing here seals a secret: the KMS key is only named, never called.
  const keys = new KmsKeyPort({
    get keyId() {
      return resources.kmsKeyId ?? "";
    },
    clientConfig: { region: resources.region },
  });
  const gyre = createGyre(resources, keys, tmpdir());
  let apiUrl: string | undefined;
  try {
    apiUrl = resources.apiUrl;
  } catch {
    apiUrl = undefined;
  }
  try {
    const { user, token } = await bootstrapAdmin(gyre, {
      login: options.login,
      name: options.name,
      force: options.force,
    });
    if (options.json) {
      print(json({ user: auth.userAdminJson(gyre, user), token, api_url: apiUrl ?? null }));
      return 0;
    }
    print(`Created administrator ${user.login} (id ${user.id}, table ${resources.tableName}).`);
    print(`Their personal token, labelled "bootstrap":`);
    print(token);
    print("It will not be shown again: keep it in a password manager.");
    print(`Use it:  export GYRE_URL=${apiUrl ?? "<the API's URL>"} GYRE_TOKEN=<the token>`);
    print("Then set up sign-in (gyre settings set ...) and make your own token (gyre token create).");
    return 0;
  } finally {
    gyre.aws.dynamo.destroy();
  }
}
