/**
 * The installation's first administrator, for `gyre admin bootstrap`: after `sst deploy` there
 * is nobody to ask the API for a token, so the operator's own AWS credentials write one straight
 * into the table (`npx sst shell --stage prod -- npx gyre admin bootstrap`).
 *
 * It makes a `local` user (tokens only: no password, no GitHub or LDAP identity) who is an
 * administrator, and a personal token labelled `bootstrap` for them, answered once in clear.
 * It refuses while an active administrator exists (their tokens are the way in; `force` adds
 * another anyway, to get back in when every administrator's token is lost) and refuses a login
 * another user has (logins name users in `gyre user ...`). The new user is an audit record
 * `user.create` by the system, as is their token (`user.token.create`).
 *
 * It does not count as "the first person to sign in": the first one to sign in with GitHub or
 * LDAP still becomes an administrator, as the reference has it.
 */
import { audit, SYSTEM_ACTOR } from "../audit/index.ts";
import type { Gyre } from "../context.ts";
import { conflict } from "../error.ts";
import { claimFirstAdmin, createUser, issueToken, listUsers, type User } from "./index.ts";

export const BOOTSTRAP_TOKEN_LABEL = "bootstrap";

export interface BootstrapOptions {
  /** Default `admin`. */
  login?: string;
  /** Default: the login. */
  name?: string;
  /** Make one even though an active administrator exists. */
  force?: boolean;
}

export interface Bootstrapped {
  user: User;
  /** The personal token, in clear: the only copy. */
  token: string;
}

export async function bootstrapAdmin(gyre: Gyre, options: BootstrapOptions = {}): Promise<Bootstrapped> {
  const login = options.login ?? "admin";
  const users = await listUsers(gyre);
  const admins = users.filter((u) => u.admin && u.state === "active");
  if (admins.length > 0 && !options.force)
    throw conflict(
      `An active administrator exists already (${admins.map((u) => u.login).join(", ")}): use their token, ` +
        "or run again with --force to add another administrator.",
    );
  if (users.some((u) => u.login === login))
    throw conflict(`A user with login ${login} exists already: choose another with --login.`);
  const user = await createUser(gyre, { login, name: options.name, admin: true, provider: "local" });
  await claimFirstAdmin(gyre);
  const target = { id: user.id, type: "user", name: user.login };
  await audit(gyre, {
    action: "user.create",
    actor: SYSTEM_ACTOR,
    target,
    payload: { provider: "local", via: "gyre admin bootstrap" },
  });
  const { token, info } = await issueToken(gyre, user.id, BOOTSTRAP_TOKEN_LABEL);
  await audit(gyre, {
    action: "user.token.create",
    actor: SYSTEM_ACTOR,
    target,
    payload: { token_id: info.id, label: info.label, kind: info.kind, via: "gyre admin bootstrap" },
  });
  return { user, token };
}
