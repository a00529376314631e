/**
 * The signed-in user's own page (`/settings/user`, CircleCI's path): who they are as the session
 * says, their API tokens (made, shown once, revoked) and the SSH public keys an SSH rerun lets
 * them log in with. Everything is the caller's own (`/api/gyre/me/...`): any user may change it.
 * The forms, tables and confirm steps look as the project settings' do (their styles).
 */
import { Crumbs, useTitle } from "../layout.tsx";
import { useUser } from "../session.tsx";
import type { User } from "../types.ts";
import { SshKeysSection } from "./account/ssh-keys.tsx";
import { TokensSection } from "./account/tokens.tsx";
import { Section } from "./project-settings/common.tsx";

const PROVIDERS: Record<string, string> = {
  local: "Personal API token (a local account)",
  github: "GitHub",
  ldap: "LDAP",
};

export default function AccountPage() {
  const user = useUser();
  useTitle("Your account");
  return (
    <section className="account-page">
      <Crumbs items={[{ label: "Pipelines", href: "/" }, { label: "Your account" }]} />
      <h1>Your account</h1>
      <div className="settings-body">
        <ProfileSection user={user} />
        <TokensSection />
        <SshKeysSection />
      </div>
    </section>
  );
}

function ProfileSection({ user }: { user: User }) {
  return (
    <Section id="profile" title="Profile">
      <dl className="facts">
        <dt>Login</dt>
        <dd>{user.login}</dd>
        <dt>Name</dt>
        <dd>{user.name || <span className="hint">not set</span>}</dd>
        <dt>Role</dt>
        <dd>{user.role === "admin" ? "Administrator" : "User"}</dd>
        <dt>Signs in with</dt>
        <dd>{(user.provider && PROVIDERS[user.provider]) ?? user.provider ?? "unknown"}</dd>
      </dl>
      <p className="hint">
        Your login and name come from where you sign in; an administrator sets roles. What you may see and
        change in a project is your permission on its repository.
      </p>
    </Section>
  );
}
