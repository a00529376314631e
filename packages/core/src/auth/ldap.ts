/**
 * Signing in against an LDAP directory (OpenLDAP or Active Directory), the way CircleCI
 * server's console does it: search-then-bind. The search account finds the one entry whose
 * username attribute is what the user typed, then a bind as that entry's DN with the typed
 * password proves the password; the entry gives the e-mail address, the name and the groups.
 *
 * Pure: a plaintext configuration in, an identity out; where the settings and sessions live is
 * the caller's business. Every connection is opened for one sign-in, lookup or test and closed
 * at its end, whatever happened. Each step is bounded in time (the connection and TLS handshake
 * by `connect_timeout_ms`, each bind, search and StartTLS by `timeout_ms`), so a server that
 * does not answer costs the user a few seconds and an error naming the server and the step,
 * never a hung request.
 *
 * Failures are told apart by whose they are. The user's (no such user, several entries for one
 * name, a wrong password) are one generic `unauthorized` "Invalid username or password.", so
 * that sign-in says nothing about which accounts exist; `ldapTestUser` (the console's "test
 * user" action, for administrators) says precisely which. The operator's or the server's (the
 * server unreachable or silent, its certificate untrusted, the search account refused, a base
 * DN that does not exist) are `unavailable`, with what to check in the settings. Passwords are
 * never logged and never part of a message.
 *
 * Filters are built from ldapts' filter classes, which send the value as an octet string inside
 * the BER-encoded filter: `*`, `(`, `)` or `\` in a username are matched literally and cannot
 * widen a search. Usernames are bounded and control characters refused before anything is sent.
 */
import { isIP, type Socket, connect as tcpConnect } from "node:net";
import { type ConnectionOptions, type TLSSocket, connect as tlsConnect } from "node:tls";
import { AndFilter, Client, type Entry, EqualityFilter, type Filter, ResultCodeError } from "ldapts";
import { forbidden, GyreError, unauthorized } from "../error.ts";
import { trustedCertificates } from "../network/trust.ts";
import { z } from "../protocol/schema.ts";

/** The attributes and object class each flavor's directories use unless told otherwise. */
const FLAVOR_DEFAULTS = {
  openldap: {
    username_attribute: "uid",
    group_membership_attribute: "uniqueMember",
    group_object_class: "groupOfUniqueNames",
  },
  active_directory: {
    username_attribute: "sAMAccountName",
    group_membership_attribute: "member",
    group_object_class: "group",
  },
} as const;

const attributeName = z
  .string()
  .regex(
    /^(?:[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)+)$/,
    "an LDAP attribute name (a letter, then letters, digits or hyphens) or an OID",
  );
const dn = (example: string) =>
  z
    .string()
    .min(1)
    .regex(/^[^=,]+=.+/, `a distinguished name such as ${example}`);
const timeout = z.number().int().min(1).max(120_000);

/**
 * The LDAP settings, as the console's form holds them. The port has no default (389 or 636
 * depends on `security`, which is the form's to suggest). `user_search_dn` is relative to
 * `base_dn` as CircleCI's console asks for it (`ou=users`); a full DN ending in `base_dn` is
 * taken as it is. The attribute and object-class settings default by `flavor`.
 */
export const LdapConfigSchema = z
  .object({
    flavor: z.enum(["openldap", "active_directory"]).default("openldap"),
    host: z
      .string()
      .min(1)
      .refine(
        (host) => isIP(host.replace(/^\[(.*)\]$/, "$1")) !== 0 || /^[A-Za-z0-9_.-]+$/.test(host),
        "a host name or IP address, without ldap:// or a port",
      ),
    port: z.number().int().min(1).max(65535),
    /** plain: passwords cross the network in clear; starttls: upgraded on the plain port; ldaps: TLS from the start. */
    security: z.enum(["plain", "starttls", "ldaps"]),
    /** The PEM of a private CA to trust besides the system's (for a server whose certificate it signed). */
    ca: z
      .string()
      .refine(
        (pem) => pem.includes("-----BEGIN CERTIFICATE-----"),
        "a PEM certificate (-----BEGIN CERTIFICATE-----)",
      )
      .optional(),
    /** The search account's bind DN. */
    search_user: dn("cn=admin,dc=example,dc=org"),
    search_password: z.string().min(1),
    base_dn: dn("dc=example,dc=org"),
    user_search_dn: dn("ou=users"),
    username_attribute: attributeName.optional(),
    group_membership_attribute: attributeName.optional(),
    group_object_class: attributeName.optional(),
    /** The DN of a group the user must be listed in to sign in. */
    required_group: dn("cn=ci-users,ou=groups,dc=example,dc=org").optional(),
    email_attribute: attributeName.default("mail"),
    name_attribute: attributeName.default("cn"),
    connect_timeout_ms: timeout.default(5000),
    /** Each bind, search and StartTLS. */
    timeout_ms: timeout.default(5000),
  })
  .transform((config) => ({
    ...config,
    username_attribute: config.username_attribute ?? FLAVOR_DEFAULTS[config.flavor].username_attribute,
    group_membership_attribute:
      config.group_membership_attribute ?? FLAVOR_DEFAULTS[config.flavor].group_membership_attribute,
    group_object_class: config.group_object_class ?? FLAVOR_DEFAULTS[config.flavor].group_object_class,
  }));
export type LdapConfig = z.output<typeof LdapConfigSchema>;

/** What identifies an LDAP entry for good: its entryUUID / objectGUID, else its DN. */
export const ldapEntryId = (identity: { uniqueId?: string; dn: string }) =>
  (identity.uniqueId ?? identity.dn).toLowerCase();

/** Who signed in, as the directory has them. */
export interface LdapIdentity {
  dn: string;
  /** The username attribute's value as the directory spells it (not necessarily as typed). */
  username: string;
  /**
   * The entry's own identity, which survives renames and is never given to another entry:
   * OpenLDAP's `entryUUID`, Active Directory's `objectGUID` (hex). Undefined when the server
   * answers neither (then the DN stands in).
   */
  uniqueId?: string;
  email?: string;
  name?: string;
  /** DNs of the groups (of `group_object_class`, under `base_dn`) listing the user in `group_membership_attribute`. */
  groups: string[];
}

/** One step of `ldapTestUser`'s report. */
interface TestStep {
  step: string;
  ok: boolean;
  detail: string;
}

const INVALID = "Invalid username or password.";
const MAX_USERNAME = 256;

/**
 * A refusal of this user, as opposed to a failure of the server or the settings: `detail` says
 * precisely why (for the test-user report), `visible` is what sign-in tells the user.
 */
class Refused extends Error {
  constructor(
    readonly detail: string,
    readonly visible: GyreError = unauthorized(INVALID),
  ) {
    super(detail);
  }
}

const unavailable = (message: string) => new GyreError("unavailable", message);

/** Where the server is, as messages name it. */
const where = (config: LdapConfig) =>
  isIP(bareHost(config)) === 6 ? `[${bareHost(config)}]:${config.port}` : `${config.host}:${config.port}`;
const bareHost = (config: LdapConfig) => config.host.replace(/^\[(.*)\]$/, "$1");

/** Compares DNs the way a person would write them: case and spaces around separators aside. */
const looseDn = (value: string) => value.toLowerCase().replace(/\s*([,=+])\s*/g, "$1");

/** The DN users are searched under: `user_search_dn` relative to `base_dn`, unless it already ends in it. */
function userSearchBase(config: LdapConfig): string {
  const relative = config.user_search_dn.trim();
  const base = config.base_dn.trim();
  const loose = looseDn(relative);
  const looseBase = looseDn(base);
  if (loose === looseBase || loose.endsWith(`,${looseBase}`)) return relative;
  return `${relative},${base}`;
}

/**
 * The socket's TLS settings: the system's CAs, the installation's (GYRE_CA_BUNDLE,
 * NODE_EXTRA_CA_CERTS: network/trust.ts) and the configured one, the server's name checked.
 */
function tlsOptions(config: LdapConfig): ConnectionOptions {
  const host = bareHost(config);
  const ca = trustedCertificates(process.env, config.ca ? [config.ca] : []);
  return {
    host,
    // SNI takes host names only; the certificate is checked against `host` either way.
    ...(isIP(host) ? {} : { servername: host }),
    ...(ca ? { ca } : {}),
    minVersion: "TLSv1.2",
  };
}

/** What a TLS or socket error means to the operator. */
function connectionProblem(config: LdapConfig, error: NodeJS.ErrnoException, during: string): GyreError {
  const code = error.code ?? "";
  if (/CERT|SIGNATURE|ISSUER|ALTNAME/.test(code)) {
    const hint =
      code === "ERR_TLS_CERT_ALTNAME_INVALID"
        ? "set the host to a name the certificate lists"
        : config.ca
          ? "check that the CA certificate in the settings is the one that signed the server's certificate"
          : "set the CA certificate in the settings to the CA that signed the server's certificate";
    return unavailable(
      `The LDAP server at ${where(config)} presented a certificate that could not be verified (${error.message}); ${hint}.`,
    );
  }
  const reason =
    code === "ECONNREFUSED"
      ? "the connection was refused (nothing listens on that port)"
      : code === "ENOTFOUND" || code === "EAI_AGAIN"
        ? "the host name does not resolve"
        : code === "EHOSTUNREACH" || code === "ENETUNREACH"
          ? "the host is unreachable"
          : error.message;
  const hint =
    config.security === "ldaps"
      ? " Check the host and port, and that the port speaks LDAPS (TLS from the start)."
      : " Check the host and port.";
  return unavailable(`Could not ${during} the LDAP server at ${where(config)}: ${reason}.${hint}`);
}

/** Opens the TCP (or, for LDAPS, TLS) connection within `connect_timeout_ms`. */
function openSocket(config: LdapConfig): Promise<Socket> {
  const ldaps = config.security === "ldaps";
  return new Promise((resolve, reject) => {
    const socket: Socket = ldaps
      ? tlsConnect({ port: config.port, ...tlsOptions(config) })
      : tcpConnect({ host: bareHost(config), port: config.port });
    let tcpConnected = false;
    socket.once("connect", () => {
      tcpConnected = true;
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        unavailable(
          tcpConnected
            ? `The LDAP server at ${where(config)} accepted the connection but did not complete the TLS handshake within ${config.connect_timeout_ms} ms; check that the port speaks LDAPS.`
            : `The LDAP server at ${where(config)} did not accept a connection within ${config.connect_timeout_ms} ms; check the host and port, and that a firewall lets Gyre through.`,
        ),
      );
    }, config.connect_timeout_ms);
    socket.once(ldaps ? "secureConnect" : "connect", () => {
      clearTimeout(timer);
      resolve(socket);
    });
    // Stays until ldapts takes the socket over (it replaces the error listeners).
    socket.on("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      reject(connectionProblem(config, error, ldaps && tcpConnected ? "complete TLS with" : "connect to"));
    });
  });
}

/** How an LDAP result code reads in a message: ldapts' text without its "Code: 0x31". */
const resultText = (error: ResultCodeError) =>
  `${error.message.replace(/\s*Code: 0x[0-9a-f]+$/, "")} (result code ${error.code})`;

/** One connection, its operations bounded and their failures said in terms of the settings. */
class Connection {
  private constructor(
    private readonly config: LdapConfig,
    private readonly socket: Socket,
    private readonly client: Client,
  ) {}

  static async open(config: LdapConfig): Promise<Connection> {
    const socket = await openSocket(config);
    let handedOver = false;
    const client = new Client({
      // The socket is already open (TLS included for LDAPS): ldapts talks LDAP over it. A second
      // call would be ldapts reconnecting after the server closed it: refused, not reconnected.
      url: "ldap://gyre.invalid",
      createConnection: () => {
        if (handedOver || socket.destroyed) throw new Error("the server closed the connection");
        handedOver = true;
        return socket;
      },
      timeout: config.timeout_ms,
      connectTimeout: config.connect_timeout_ms,
    });
    return new Connection(config, socket, client);
  }

  /** Runs an operation within `timeout_ms`; a timeout or a broken connection is `unavailable`. */
  private async bounded<T>(what: string, operation: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.socket.destroy();
        reject(this.silent(what));
      }, this.config.timeout_ms);
    });
    try {
      return await Promise.race([operation(), timedOut]);
    } catch (error) {
      if (error instanceof GyreError || error instanceof ResultCodeError) throw error;
      const e = error as NodeJS.ErrnoException;
      if (/timed? ?out/i.test(e.message)) throw this.silent(what);
      if (e.code) throw connectionProblem(this.config, e, `complete ${what} with`);
      throw unavailable(
        `The LDAP server at ${where(this.config)} closed the connection during ${what} (${e.message.split("\n")[0]}); check that the security setting (plain, StartTLS or LDAPS) is the one the port speaks.`,
      );
    } finally {
      clearTimeout(timer);
    }
  }

  private silent(what: string): GyreError {
    return unavailable(
      `The LDAP server at ${where(this.config)} did not answer ${what} within ${this.config.timeout_ms} ms.`,
    );
  }

  async startTls(): Promise<void> {
    try {
      await this.bounded("StartTLS", () => this.client.startTLS(tlsOptions(this.config)));
    } catch (error) {
      if (error instanceof ResultCodeError)
        throw unavailable(
          `The LDAP server at ${where(this.config)} refused StartTLS: ${resultText(error)}; configure TLS on the server, or choose LDAPS or plain in the settings.`,
        );
      throw error;
    }
  }

  async bindSearchAccount(): Promise<void> {
    const config = this.config;
    try {
      await this.bounded("the search account's bind", () =>
        this.client.bind(config.search_user, config.search_password),
      );
    } catch (error) {
      if (!(error instanceof ResultCodeError)) throw error;
      if (error.code === 49)
        throw unavailable(
          `The LDAP search account was refused by ${where(config)} (invalid credentials for ${config.search_user}); check the search user and password in the settings.`,
        );
      const hint =
        error.code === 8 || error.code === 13
          ? "; the server wants an encrypted connection: choose StartTLS or LDAPS in the settings"
          : "; check the search user in the settings";
      throw unavailable(
        `The LDAP server at ${where(config)} refused the search account ${config.search_user}: ${resultText(error)}${hint}.`,
      );
    }
  }

  /** Binds as the user; any refusal of that bind is the user's (wrong password, account locked...). */
  async bindUser(userDn: string, password: string): Promise<void> {
    try {
      await this.bounded("the user's bind", () => this.client.bind(userDn, password));
    } catch (error) {
      if (!(error instanceof ResultCodeError)) throw error;
      throw new Refused(
        error.code === 49
          ? `The LDAP server refused the password for ${userDn}.`
          : `The LDAP server refused the bind as ${userDn}: ${resultText(error)}.`,
      );
    }
  }

  /** Up to two entries (two are enough to refuse) whose username attribute is `username`. */
  async findUsers(username: string): Promise<Entry[]> {
    const config = this.config;
    const base = userSearchBase(config);
    try {
      const { searchEntries } = await this.bounded("the user search", () =>
        this.client.search(base, {
          scope: "sub",
          filter: new EqualityFilter({ attribute: config.username_attribute, value: username }),
          attributes: [
            config.username_attribute,
            config.email_attribute,
            config.name_attribute,
            "entryUUID",
            "objectGUID",
          ],
          explicitBufferAttributes: ["objectGUID"],
          sizeLimit: 2,
        }),
      );
      return searchEntries;
    } catch (error) {
      if (!(error instanceof ResultCodeError)) throw error;
      if (error.code === 32)
        throw unavailable(
          `The user search base ${base} does not exist on the LDAP server at ${where(config)}; check the base DN and user search DN in the settings.`,
        );
      throw unavailable(
        `The LDAP server at ${where(config)} refused the user search under ${base}: ${resultText(error)}.`,
      );
    }
  }

  private membershipFilter(userDn: string): Filter {
    return new AndFilter({
      filters: [
        new EqualityFilter({ attribute: "objectClass", value: this.config.group_object_class }),
        new EqualityFilter({ attribute: this.config.group_membership_attribute, value: userDn }),
      ],
    });
  }

  /** The DNs of the groups under base_dn listing the user. */
  async groupsOf(userDn: string): Promise<string[]> {
    const config = this.config;
    try {
      const { searchEntries } = await this.bounded("the group search", () =>
        this.client.search(config.base_dn, {
          scope: "sub",
          filter: this.membershipFilter(userDn),
          attributes: ["1.1"],
          // Directories cap unpaged results (Active Directory at 1,000).
          paged: { pageSize: 500 },
        }),
      );
      return searchEntries.map((entry) => entry.dn);
    } catch (error) {
      if (!(error instanceof ResultCodeError)) throw error;
      throw unavailable(
        `The LDAP server at ${where(config)} refused the group search under ${config.base_dn}: ${resultText(error)}; check the base DN in the settings.`,
      );
    }
  }

  /** Whether the required group lists the user; a group that is not there is the settings' fault. */
  async inRequiredGroup(userDn: string, group: string): Promise<boolean> {
    const config = this.config;
    const search = (filter: Filter) =>
      this.bounded("the required group's search", () =>
        this.client.search(group, { scope: "base", filter, attributes: ["1.1"] }),
      );
    try {
      if ((await search(this.membershipFilter(userDn))).searchEntries.length > 0) return true;
      const isGroup = new EqualityFilter({ attribute: "objectClass", value: config.group_object_class });
      if ((await search(isGroup)).searchEntries.length === 0)
        throw unavailable(
          `The required group ${group} is not a ${config.group_object_class} (the group object class in the settings); check the required group and the group object class.`,
        );
      return false;
    } catch (error) {
      if (!(error instanceof ResultCodeError)) throw error;
      if (error.code === 32)
        throw unavailable(
          `The required group ${group} does not exist on the LDAP server at ${where(config)}; check the required group in the settings.`,
        );
      throw unavailable(
        `The LDAP server at ${where(config)} refused the search of the required group ${group}: ${resultText(error)}.`,
      );
    }
  }

  /** Unbinds and closes, never throwing, never waiting more than `timeout_ms`. */
  async close(): Promise<void> {
    try {
      if (!this.socket.destroyed) await this.bounded("the unbind", () => this.client.unbind());
    } catch {
      // Closing anyway.
    } finally {
      this.socket.destroy();
    }
  }

  describeTls(): string {
    const tls = this.socket as TLSSocket;
    return typeof tls.getProtocol === "function" ? `${tls.getProtocol() ?? "TLS"}, certificate verified` : "";
  }
}

/** The first value of an attribute, whatever case the server spelled its name in. */
function firstValue(entry: Entry, attribute: string): string | undefined {
  const key = Object.keys(entry).find((k) => k.toLowerCase() === attribute.toLowerCase());
  const value = key === undefined ? undefined : entry[key];
  const first = Array.isArray(value) ? value[0] : value;
  if (first === undefined) return undefined;
  const text = Buffer.isBuffer(first) ? first.toString("utf8") : first;
  return text === "" ? undefined : text;
}

/** Refuses what no directory entry should be looked up by: empty, too long, control characters. */
function checkUsername(username: string): void {
  if (username.length === 0) throw new Refused("The username is empty.");
  if (username.length > MAX_USERNAME)
    throw new Refused(`The username is longer than ${MAX_USERNAME} characters.`);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing them is the point.
  if (/[\u0000-\u001f\u007f]|\p{Surrogate}/u.test(username))
    throw new Refused("The username contains control characters or is not valid Unicode.");
}

/** Records each step as it succeeds; `current` is the one under way when something throws. */
class Steps {
  current = "input";
  readonly done: TestStep[] = [];

  async run<T>(step: string, operation: () => Promise<T> | T, detail: (result: T) => string): Promise<T> {
    this.current = step;
    const result = await operation();
    this.done.push({ step, ok: true, detail: detail(result) });
    return result;
  }
}

/**
 * The whole exchange: with a password, search-then-bind; without one (a lookup), the search
 * account's view only. Throws `Refused` for the user's failures, GyreError for the rest.
 */
async function exchange(
  config: LdapConfig,
  username: string,
  password: string | undefined,
  steps: Steps,
): Promise<LdapIdentity> {
  await steps.run(
    "input",
    () => {
      checkUsername(username);
      // An empty password makes a bind "unauthenticated", which many servers accept (RFC 4513 5.1.2).
      if (password === "") throw new Refused("The password is empty.");
    },
    () => (password === undefined ? `username "${username}"` : `username "${username}" and a password`),
  );
  const connection = await steps.run(
    "connect",
    () => Connection.open(config),
    (c) =>
      config.security === "ldaps"
        ? `connected to ${where(config)} over TLS (${c.describeTls()})`
        : `connected to ${where(config)}${config.security === "plain" ? " (plain LDAP: passwords cross the network in clear)" : ""}`,
  );
  try {
    if (config.security === "starttls")
      await steps.run(
        "starttls",
        () => connection.startTls(),
        () => "TLS started, certificate verified",
      );
    await steps.run(
      "bind search user",
      () => connection.bindSearchAccount(),
      () => `bound as ${config.search_user}`,
    );
    const base = userSearchBase(config);
    const searched = `${config.username_attribute}=${username} under ${base}`;
    const entries = await steps.run(
      "search user",
      () => connection.findUsers(username),
      (found) =>
        `searched for ${searched}: ${found.length === 0 ? "no entry" : found.length === 1 ? "1 entry" : "more than one entry"}`,
    );
    const entry = await steps.run(
      "exactly one match",
      () => {
        const [only, second] = entries;
        if (!only) throw new Refused(`No entry has ${searched}.`);
        if (second)
          throw new Refused(
            `More than one entry has ${searched} (${only.dn}; ${second.dn}): the username attribute must be unique; narrow the user search DN or pick another attribute.`,
          );
        return only;
      },
      (only) => only.dn,
    );
    if (password !== undefined) {
      await steps.run(
        "bind as user",
        () => connection.bindUser(entry.dn, password),
        () => `the password is right for ${entry.dn}`,
      );
    }
    const groups = await steps.run(
      "group membership",
      async () => {
        // Back to the search account: the user may not be allowed to read groups.
        if (password !== undefined) await connection.bindSearchAccount();
        const groups = await connection.groupsOf(entry.dn);
        const group = config.required_group;
        if (group && !(await connection.inRequiredGroup(entry.dn, group)))
          throw new Refused(
            `${entry.dn} is not listed in ${group}'s ${config.group_membership_attribute}.`,
            forbidden(
              "Your LDAP account is not in the group allowed to sign in to Gyre; ask an administrator to add you.",
            ),
          );
        return groups;
      },
      (groups) =>
        `${config.required_group ? `listed in the required group ${config.required_group}; ` : "no required group; "}` +
        (groups.length === 0 ? "member of no group" : `member of ${groups.join("; ")}`),
    );
    const guid = entry.objectGUID ?? entry.objectguid;
    const objectGuid = Buffer.isBuffer(guid) ? guid.toString("hex") : undefined;
    return {
      dn: entry.dn,
      username: firstValue(entry, config.username_attribute) ?? username,
      ...definedOnly({
        uniqueId: firstValue(entry, "entryUUID") ?? objectGuid,
        email: firstValue(entry, config.email_attribute),
        name: firstValue(entry, config.name_attribute),
      }),
      groups,
    };
  } finally {
    await connection.close();
  }
}

const definedOnly = (o: Record<"uniqueId" | "email" | "name", string | undefined>) =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as {
    uniqueId?: string;
    email?: string;
    name?: string;
  };

/**
 * Signs a user in: search-then-bind, then the group check. A refused user gets `unauthorized`
 * "Invalid username or password." whatever the reason (`forbidden` when the password was right
 * but the user is not in `required_group`); a server or settings problem gets `unavailable`.
 */
export async function ldapSignIn(
  config: LdapConfig,
  username: string,
  password: string,
): Promise<LdapIdentity> {
  try {
    return await exchange(config, username, password, new Steps());
  } catch (error) {
    if (error instanceof Refused) throw error.visible;
    throw error;
  }
}

/**
 * The user as the directory has them now, with the search account only (no password): for
 * re-checking a signed-in user periodically. Undefined when they can no longer sign in: their
 * entry is gone, ambiguous, or outside `required_group`. Throws `unavailable` when the server
 * or the settings are at fault, so that a caller can tell "gone" from "could not ask".
 */
export async function ldapLookup(config: LdapConfig, username: string): Promise<LdapIdentity | undefined> {
  try {
    return await exchange(config, username, undefined, new Steps());
  } catch (error) {
    if (error instanceof Refused) return undefined;
    throw error;
  }
}

/**
 * The console's "test user" action: signs the user in and reports each step (input, connect,
 * starttls when configured, bind search user, search user, exactly one match, bind as user,
 * group membership) with what it found, stopping at the first failure, which it says
 * precisely. Never throws for an LDAP or settings failure: they are the report.
 */
export async function ldapTestUser(
  config: LdapConfig,
  username: string,
  password: string,
): Promise<{ ok: boolean; steps: { step: string; ok: boolean; detail: string }[] }> {
  const steps = new Steps();
  try {
    await exchange(config, username, password, steps);
    return { ok: true, steps: steps.done };
  } catch (error) {
    const detail =
      error instanceof Refused ? error.detail : error instanceof Error ? error.message : String(error);
    return { ok: false, steps: [...steps.done, { step: steps.current, ok: false, detail }] };
  }
}
