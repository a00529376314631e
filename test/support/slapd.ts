/**
 * A real OpenLDAP server for tests: a throwaway `slapd` (Debian's slapd package; CI installs
 * it, see .ci/run) on free 127.0.0.1 ports, with its configuration (a slapd.conf read with
 * `-f`, so nothing under /etc/ldap is read or written but the stock schema), an mdb database
 * and a TLS certificate all in one temporary directory, removed by `stop()`.
 *
 * It listens on ldap:// (StartTLS allowed) and ldaps://, with a server certificate for
 * IP:127.0.0.1 and DNS:localhost signed by a CA made for this run with the openssl CLI. The
 * directory is seeded offline with slapadd before slapd starts: dc=example,dc=org, the root
 * account cn=admin (the search account), three inetOrgPerson users under ou=users and two
 * groupOfUniqueNames under ou=groups. Changes afterwards go over LDAP as the admin.
 *
 * Runs as whoever runs the tests (no -u/-g, no privileged port), root or not. Where an
 * AppArmor profile confines /usr/sbin/slapd to its stock paths (Ubuntu's), a copy of the
 * binary outside the profile's path is run instead, so that it may read the temporary
 * directory.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Attribute, Change, Client } from "ldapts";
import { freePort } from "../support.ts";

export const SLAPD = "/usr/sbin/slapd";
const SLAPADD = "/usr/sbin/slapadd";
const SCHEMA = "/etc/ldap/schema";
const MODULES = "/usr/lib/ldap";

/** True when slapd, slapadd, the stock schema and openssl are all here. */
export function slapdAvailable(): boolean {
  if (![SLAPD, SLAPADD, join(SCHEMA, "inetorgperson.schema"), join(MODULES, "back_mdb.so")].every(existsSync))
    return false;
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** What to say when slapdAvailable() is false. */
export const SLAPD_MISSING =
  `This test needs a real OpenLDAP server: ${SLAPD}, ${SLAPADD} and the schema in ${SCHEMA}, and openssl ` +
  "(apt-get install slapd ldap-utils openssl; .ci/run does).";

export interface SlapdUser {
  uid: string;
  password: string;
  /** Default: the uid. */
  cn?: string;
  /** Default: `<uid>@example.org`; null for none. */
  mail?: string | null;
  /** The entry's DN (default `uid=<uid>,ou=users,<base>`): another RDN gives two entries one uid. */
  dn?: string;
}

export interface Slapd {
  host: string;
  /** ldap://, where StartTLS is offered. */
  port: number;
  /** ldaps://. */
  ldapsPort: number;
  /** The PEM of the CA that signed the server's certificate. */
  ca: string;
  /** The PEM of another CA, which did not. */
  wrongCa: string;
  baseDn: string;
  /** The root account (slapd's rootdn), to use as the search account. */
  adminDn: string;
  adminPassword: string;
  usersDn: string;
  groupsDn: string;
  /** The seeded users by uid: ada and grace are in ci-users, ada in admins too, mallory in none. */
  users: Record<string, { dn: string; password: string; cn: string; mail: string }>;
  userDn(uid: string): string;
  groupDn(group: string): string;
  /** Adds an inetOrgPerson; returns its DN. */
  addUser(user: SlapdUser): Promise<string>;
  /** Deletes `uid=<uid>,ou=users,…` (or the DN given), leaving group memberships as they were. */
  deleteUser(uidOrDn: string): Promise<void>;
  addToGroup(uidOrDn: string, group: string): Promise<void>;
  removeFromGroup(uidOrDn: string, group: string): Promise<void>;
  stop(): Promise<void>;
}

const BASE = "dc=example,dc=org";
const ADMIN = `cn=admin,${BASE}`;
const USERS = `ou=users,${BASE}`;
const GROUPS = `ou=groups,${BASE}`;
const SEED_USERS = {
  ada: { cn: "Ada Lovelace", password: "analytical-engine" },
  grace: { cn: "Grace Hopper", password: "cobol-1959" },
  mallory: { cn: "Mallory Mallet", password: "not-in-any-group" },
};
const SEED_GROUPS = { "ci-users": ["ada", "grace"], admins: ["ada"] };

/** `{SSHA}` as slappasswd writes it: SHA-1 of the password and a salt, then the salt. */
function ssha(password: string): string {
  const salt = randomBytes(8);
  const digest = createHash("sha1").update(password).update(salt).digest();
  return `{SSHA}${Buffer.concat([digest, salt]).toString("base64")}`;
}

const openssl = (dir: string, ...args: string[]) =>
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });

/** A self-signed CA (EC keys: instant to generate): writes `<name>.key` and `<name>.pem`. */
function makeCa(dir: string, name: string): void {
  openssl(
    dir,
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.pem`,
    "-days",
    "2",
    "-subj",
    `/CN=Gyre test ${name}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  );
}

/** server.key and server.pem, for 127.0.0.1 and localhost, signed by ca. */
function makeServerCertificate(dir: string): void {
  openssl(
    dir,
    "req",
    "-new",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    "server.key",
    "-out",
    "server.csr",
    "-subj",
    "/CN=localhost",
  );
  writeFileSync(
    join(dir, "server.ext"),
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
  );
  openssl(
    dir,
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    "server.ext",
    "-out",
    "server.pem",
  );
}

const q = (path: string) => `"${path.replace(/(["\\])/g, "\\$1")}"`;

function slapdConf(dir: string, adminPassword: string): string {
  return [
    ...["core", "cosine", "inetorgperson"].map((s) => `include ${q(join(SCHEMA, `${s}.schema`))}`),
    `pidfile ${q(join(dir, "slapd.pid"))}`,
    `argsfile ${q(join(dir, "slapd.args"))}`,
    `modulepath ${q(MODULES)}`,
    "moduleload back_mdb",
    `TLSCACertificateFile ${q(join(dir, "ca.pem"))}`,
    `TLSCertificateFile ${q(join(dir, "server.pem"))}`,
    `TLSCertificateKeyFile ${q(join(dir, "server.key"))}`,
    "database mdb",
    "maxsize 16777216",
    `suffix "${BASE}"`,
    `rootdn "${ADMIN}"`,
    `rootpw ${adminPassword}`,
    `directory ${q(join(dir, "db"))}`,
    "index objectClass eq",
    "index uid eq",
    "index uniqueMember eq",
    // As a real directory would have it: passwords only usable to bind, everything else readable.
    "access to attrs=userPassword by self write by anonymous auth by * none",
    "access to * by * read",
    "",
  ].join("\n");
}

function userLdif(
  dn: string,
  user: Required<Pick<SlapdUser, "uid" | "password" | "cn">> & SlapdUser,
): string {
  const mail = user.mail === undefined ? `${user.uid}@example.org` : user.mail;
  return [
    `dn: ${dn}`,
    "objectClass: inetOrgPerson",
    `uid: ${user.uid}`,
    `cn: ${user.cn}`,
    `sn: ${user.cn.split(" ").at(-1)}`,
    ...(mail ? [`mail: ${mail}`] : []),
    `userPassword: ${ssha(user.password)}`,
  ].join("\n");
}

function seedLdif(): string {
  const entries = [
    `dn: ${BASE}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example`,
    `dn: ${USERS}\nobjectClass: organizationalUnit\nou: users`,
    `dn: ${GROUPS}\nobjectClass: organizationalUnit\nou: groups`,
    ...Object.entries(SEED_USERS).map(([uid, u]) => userLdif(`uid=${uid},${USERS}`, { uid, ...u })),
    ...Object.entries(SEED_GROUPS).map(([cn, members]) =>
      [
        `dn: cn=${cn},${GROUPS}`,
        "objectClass: groupOfUniqueNames",
        `cn: ${cn}`,
        ...members.map((uid) => `uniqueMember: uid=${uid},${USERS}`),
      ].join("\n"),
    ),
  ];
  return `${entries.join("\n\n")}\n`;
}

/** Whether an AppArmor profile for slapd is enforced here (it would keep slapd out of /tmp). */
function slapdConfined(): boolean {
  try {
    return /^\S*slapd\S* \(enforce\)$/m.test(readFileSync("/sys/kernel/security/apparmor/profiles", "utf8"));
  } catch {
    return false;
  }
}

/** Opens an admin connection, runs fn, closes it. */
async function asAdmin<T>(url: string, password: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ url, timeout: 5000, connectTimeout: 5000 });
  try {
    await client.bind(ADMIN, password);
    return await fn(client);
  } finally {
    await client.unbind().catch(() => {});
  }
}

/** Until slapd answers a bind as the admin, or has exited (with its stderr), within 10 s. */
async function waitUntilAnswering(child: ChildProcess, url: string, password: string, log: () => string) {
  let exited: number | null | undefined;
  child.once("close", (code, signal) => {
    exited = code ?? (signal ? -1 : null);
  });
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (exited !== undefined) throw new Error(`slapd exited (${exited}) before answering:\n${log()}`);
    try {
      await asAdmin(url, password, async () => {});
      return;
    } catch (error) {
      if (Date.now() > deadline)
        throw new Error(
          `slapd did not answer on ${url} within 10 s (${(error as Error).message}):\n${log()}`,
        );
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Starts a seeded slapd; see the file's comment. Throws with slapd's own words when it cannot. */
export async function startSlapd(): Promise<Slapd> {
  if (!slapdAvailable()) throw new Error(SLAPD_MISSING);
  const dir = mkdtempSync(join(tmpdir(), "gyre-slapd-"));
  try {
    const adminPassword = randomBytes(12).toString("hex");
    mkdirSync(join(dir, "db"));
    makeCa(dir, "ca");
    makeCa(dir, "wrong-ca");
    makeServerCertificate(dir);
    writeFileSync(join(dir, "slapd.conf"), slapdConf(dir, adminPassword));
    writeFileSync(join(dir, "seed.ldif"), seedLdif());
    execFileSync(SLAPADD, ["-q", "-f", join(dir, "slapd.conf"), "-l", join(dir, "seed.ldif")], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let binary = SLAPD;
    if (slapdConfined()) {
      binary = join(dir, "slapd");
      copyFileSync(SLAPD, binary);
    }

    // The ports are free when chosen but could be taken before slapd binds them: a few tries.
    for (let attempt = 1; ; attempt++) {
      const [port, ldapsPort] = [await freePort(), await freePort()];
      if (port === ldapsPort) continue;
      const url = `ldap://127.0.0.1:${port}`;
      // -d none: stay in the foreground, say only errors (on stderr).
      const child = spawn(
        binary,
        ["-f", join(dir, "slapd.conf"), "-h", `${url}/ ldaps://127.0.0.1:${ldapsPort}/`, "-d", "none"],
        { stdio: ["ignore", "ignore", "pipe"] },
      );
      let stderr = "";
      child.stderr!.on("data", (b: Buffer) => {
        stderr = (stderr + b.toString()).slice(-20_000);
      });
      const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
      try {
        await waitUntilAnswering(child, url, adminPassword, () => stderr);
      } catch (error) {
        child.kill("SIGKILL");
        await exited;
        if (attempt < 3 && stderr.includes("Address already in use")) continue;
        throw error;
      }
      return handle({ dir, child, exited, port, ldapsPort, adminPassword });
    }
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

function handle(s: {
  dir: string;
  child: ChildProcess;
  exited: Promise<void>;
  port: number;
  ldapsPort: number;
  adminPassword: string;
}): Slapd {
  const url = `ldap://127.0.0.1:${s.port}`;
  const admin = <T>(fn: (client: Client) => Promise<T>) => asAdmin(url, s.adminPassword, fn);
  const userDn = (uid: string) => `uid=${uid},${USERS}`;
  const groupDn = (group: string) => `cn=${group},${GROUPS}`;
  const dnOf = (uidOrDn: string) => (uidOrDn.includes("=") ? uidOrDn : userDn(uidOrDn));
  const member = (operation: "add" | "delete", uidOrDn: string, group: string) =>
    admin((c) =>
      c.modify(
        groupDn(group),
        new Change({
          operation,
          modification: new Attribute({ type: "uniqueMember", values: [dnOf(uidOrDn)] }),
        }),
      ),
    );
  return {
    host: "127.0.0.1",
    port: s.port,
    ldapsPort: s.ldapsPort,
    ca: readFileSync(join(s.dir, "ca.pem"), "utf8"),
    wrongCa: readFileSync(join(s.dir, "wrong-ca.pem"), "utf8"),
    baseDn: BASE,
    adminDn: ADMIN,
    adminPassword: s.adminPassword,
    usersDn: USERS,
    groupsDn: GROUPS,
    users: Object.fromEntries(
      Object.entries(SEED_USERS).map(([uid, u]) => [
        uid,
        { dn: userDn(uid), password: u.password, cn: u.cn, mail: `${uid}@example.org` },
      ]),
    ),
    userDn,
    groupDn,
    async addUser(user) {
      const dn = user.dn ?? userDn(user.uid);
      const cn = user.cn ?? user.uid;
      const mail = user.mail === undefined ? `${user.uid}@example.org` : user.mail;
      await admin((c) =>
        c.add(dn, {
          objectClass: "inetOrgPerson",
          uid: user.uid,
          cn,
          sn: cn.split(" ").at(-1)!,
          ...(mail ? { mail } : {}),
          userPassword: ssha(user.password),
        }),
      );
      return dn;
    },
    deleteUser: (uidOrDn) => admin((c) => c.del(dnOf(uidOrDn))),
    addToGroup: (uidOrDn, group) => member("add", uidOrDn, group),
    removeFromGroup: (uidOrDn, group) => member("delete", uidOrDn, group),
    async stop() {
      if (s.child.exitCode === null && s.child.signalCode === null) {
        s.child.kill("SIGTERM");
        const killed = setTimeout(() => s.child.kill("SIGKILL"), 3000);
        await s.exited;
        clearTimeout(killed);
      }
      rmSync(s.dir, { recursive: true, force: true });
    },
  };
}

/** The installation's `ldap` setting for this slapd over plain LDAP (its root as the search account). */
export const plainLdapSettings = (slapd: Slapd, more: Record<string, unknown> = {}) => ({
  host: slapd.host,
  port: slapd.port,
  security: "plain" as const,
  search_user: slapd.adminDn,
  search_password: slapd.adminPassword,
  base_dn: slapd.baseDn,
  user_search_dn: "ou=users",
  ...more,
});
