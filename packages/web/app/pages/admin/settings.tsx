/**
 * The installation's settings (`/admin/settings`): every setting the API answers, the simple
 * ones (booleans, numbers, strings, lists of names, choices) edited in one form and saved as one
 * change (`PATCH /api/gyre/settings`, only what changed). GitHub and LDAP sign-in are sections
 * merged field by field: a field emptied is removed. Secrets are never shown (the API answers
 * `********`): only whether one is set, and a field to replace it. With LDAP set up, the
 * reference's "test user" action tries a sign-in step by step.
 */
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, type ReactNode, useId, useState } from "react";
import { api } from "../../api.ts";
import { Failure } from "../../layout.tsx";
import { ConfirmButton, Outcome, useAction } from "./common.tsx";
import type { LdapTestReport } from "./types.ts";

const SETTINGS_KEY = ["admin", "settings"];
/** What the API shows in place of a secret that is set. */
const SECRET_SET = "********";

type Kind = "boolean" | "number" | "string" | "list" | "text" | "secret" | { options: string[] };

interface Field {
  label: string;
  hint?: string;
  kind?: Kind;
}

/** The settings the page knows (core/src/settings/index.ts); any other is shown by its value's type. */
const TOP: Record<string, Field> = {
  suspend_new_users: {
    label: "Suspend new users",
    hint: "New users start suspended-new until an administrator activates them.",
  },
  required_orgs: {
    label: "Required GitHub organizations",
    hint: "Comma-separated. GitHub users must be active members of one of them to sign in (GitHub sign-in only); empty: anyone.",
    kind: "list",
  },
  default_project_permission: {
    label: "Default project permission",
    hint: "What a user may do on a project whose permissions Gyre cannot ask GitHub for.",
    kind: { options: ["none", "view", "write", "admin"] },
  },
  session_hours: { label: "Session hours", hint: "How long a browser session lasts." },
  permission_cache_seconds: {
    label: "Permission cache seconds",
    hint: "How long a user's repository permission, as GitHub said it, is trusted.",
  },
  ldap_recheck_seconds: {
    label: "LDAP recheck seconds",
    hint: "How often a signed-in LDAP user is looked up again; 0: on every request.",
  },
  allow_unsafe_artifacts: {
    label: "Allow unsafe artifacts",
    hint: "Serve HTML, SVG and other active artifacts as themselves.",
  },
  max_test_output_bytes: {
    label: "Max test output bytes",
    hint: "A test's output is kept up to this many bytes by store_test_results.",
  },
  retention_output_days: { label: "Keep step output (days)", hint: "From the job's end; 0: for ever." },
  retention_artifact_days: { label: "Keep artifacts (days)", hint: "From the job's end; 0: for ever." },
  retention_cache_days: { label: "Keep caches (days)", hint: "From the cache's save; 0: for ever." },
};

interface Section {
  label: string;
  hint: string;
  fields: Record<string, Field>;
}

/** The settings that are sections, merged field by field (a secret in each). */
const SECTIONS: Record<string, Section> = {
  github: {
    label: "GitHub sign-in",
    hint: "An OAuth app whose callback URL is <Gyre>/api/gyre/auth/github/callback.",
    fields: {
      api_url: {
        label: "API URL",
        hint: "https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise.",
      },
      web_url: { label: "Web URL", hint: "Derived from the API URL when empty." },
      client_id: { label: "Client ID" },
      client_secret: { label: "Client secret", kind: "secret" },
      ca: {
        label: "CA certificate (PEM)",
        kind: "text",
        hint: "Of a private CA that signs the server's certificate.",
      },
    },
  },
  ldap: {
    label: "LDAP sign-in",
    hint: "With it set, users sign in with LDAP only, and may then connect a GitHub account.",
    fields: {
      flavor: { label: "Flavor", kind: { options: ["openldap", "active_directory"] } },
      host: { label: "Host", hint: "A host name or IP address, without ldap:// or a port." },
      port: { label: "Port", kind: "number" },
      security: { label: "Security", kind: { options: ["plain", "starttls", "ldaps"] } },
      ca: { label: "CA certificate (PEM)", kind: "text" },
      search_user: { label: "Search user (bind DN)" },
      search_password: { label: "Search password", kind: "secret" },
      base_dn: { label: "Base DN" },
      user_search_dn: { label: "User search DN", hint: "Relative to the base DN." },
      required_group: { label: "Required group DN", hint: "Empty: everyone under the user search DN." },
      username_attribute: { label: "Username attribute" },
      group_membership_attribute: { label: "Group membership attribute" },
      group_object_class: { label: "Group object class" },
      email_attribute: { label: "Email attribute" },
      name_attribute: { label: "Name attribute" },
      connect_timeout_ms: { label: "Connect timeout (ms)", kind: "number" },
      timeout_ms: { label: "Timeout (ms)", kind: "number" },
    },
  },
};

type Settings = Record<string, unknown>;
type Draft = Record<string, string | boolean>;

/** A value's kind when the page does not know the setting. */
function kindOf(value: unknown, known?: Kind): Kind | "json" {
  if (known) return known;
  if (typeof value === "boolean") return "boolean";
  if (typeof value === "number") return "number";
  if (typeof value === "string") return "string";
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) return "list";
  return "json";
}

/** How a value sits in the form. */
function shown(value: unknown, kind: Kind | "json"): string | boolean {
  if (kind === "boolean") return value === true;
  if (kind === "secret") return "";
  if (kind === "list") return Array.isArray(value) ? value.join(", ") : "";
  if (value === undefined || value === null) return "";
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** The form's value back as the setting's (a list from its commas, a number checked). */
function parsed(text: string | boolean, kind: Kind | "json", label: string): unknown {
  if (kind === "boolean") return text === true;
  const s = String(text).trim();
  if (kind === "number") {
    if (s === "" || !Number.isFinite(Number(s))) throw new Error(`${label} must be a number.`);
    return Number(s);
  }
  if (kind === "list")
    return s
      .split(",")
      .map((v) => v.trim())
      .filter((v) => v !== "");
  return kind === "text" ? String(text) : s;
}

const topFields = (settings: Settings) =>
  Object.keys(settings)
    .filter((k) => !(k in SECTIONS))
    .map((k) => ({ key: k, field: TOP[k] ?? { label: k }, value: settings[k] }));

/** Every field of a section: the ones the page knows, and any other the API answered. */
const sectionFields = (name: string, value: Record<string, unknown> | null) => {
  const known = SECTIONS[name]!.fields;
  const extra = Object.keys(value ?? {}).filter((k) => !(k in known));
  return [...Object.keys(known), ...extra].map((k) => ({
    key: k,
    field: known[k] ?? { label: k },
    value: value?.[k],
  }));
};

function initialDraft(settings: Settings): Draft {
  const draft: Draft = {};
  for (const { key, field, value } of topFields(settings))
    draft[key] = shown(value, kindOf(value, field.kind));
  for (const name of Object.keys(SECTIONS)) {
    const section = settings[name] as Record<string, unknown> | null;
    for (const { key, field, value } of sectionFields(name, section))
      draft[`${name}.${key}`] = shown(value, kindOf(value, field.kind ?? "string"));
  }
  return draft;
}

/** The change the form makes: only what differs from the settings read. */
function patchOf(settings: Settings, draft: Draft, setUp: Set<string>): Settings {
  const patch: Settings = {};
  for (const { key, field, value } of topFields(settings)) {
    const kind = kindOf(value, field.kind);
    if (kind === "json") continue;
    const next = parsed(draft[key] ?? "", kind, field.label);
    if (JSON.stringify(next) !== JSON.stringify(value)) patch[key] = next;
  }
  for (const name of Object.keys(SECTIONS)) {
    const section = settings[name] as Record<string, unknown> | null;
    if (!section && !setUp.has(name)) continue;
    const change: Record<string, unknown> = {};
    for (const { key, field, value } of sectionFields(name, section)) {
      const kind = kindOf(value, field.kind ?? "string");
      if (kind === "json") continue;
      const text = draft[`${name}.${key}`] ?? "";
      if (kind === "secret") {
        if (text !== "") change[key] = String(text);
        continue;
      }
      if (String(text).trim() === "") {
        if (value !== undefined && value !== null) change[key] = null;
        continue;
      }
      const next = parsed(text, kind, `${SECTIONS[name]!.label}: ${field.label}`);
      if (JSON.stringify(next) !== JSON.stringify(value)) change[key] = next;
    }
    if (Object.keys(change).length > 0) patch[name] = change;
  }
  return patch;
}

export function SettingsSection() {
  const settings = useQuery({
    queryKey: SETTINGS_KEY,
    queryFn: () => api.get<Settings>("/api/gyre/settings"),
    // Read afresh when the section opens, never in the background while an edit is under way.
    refetchOnWindowFocus: false,
  });
  // Each save makes the form anew from the API's answer; what it saved is said there.
  const [saves, setSaves] = useState<{ count: number; message?: string }>({ count: 0 });
  return (
    <>
      {settings.isError && <Failure error={settings.error} />}
      {settings.isPending && <p aria-busy="true">Loading settings…</p>}
      {settings.data && (
        <SettingsForm
          // Made anew from each answer read (the first, a fresh one, a save's): edits apply to what is shown.
          key={`${saves.count}-${settings.dataUpdatedAt}`}
          settings={settings.data}
          said={saves.message}
          saved={(message) => setSaves((s) => ({ count: s.count + 1, message }))}
        />
      )}
      {settings.data?.ldap ? <LdapTest /> : null}
    </>
  );
}

function SettingsForm({
  settings,
  said,
  saved,
}: {
  settings: Settings;
  said?: string;
  saved: (message: string) => void;
}) {
  const client = useQueryClient();
  const [draft, setDraft] = useState<Draft>(() => initialDraft(settings));
  const [setUp, setSetUp] = useState<Set<string>>(new Set());
  const [error, setError] = useState<string>();
  const [done, setDone] = useState<string>();
  const [busy, setBusy] = useState(false);
  const set = (key: string, value: string | boolean) => setDraft((d) => ({ ...d, [key]: value }));

  const save = async (patch: Settings, message: string) => {
    setBusy(true);
    setError(undefined);
    setDone(undefined);
    try {
      const next = await api.patch<Settings>("/api/gyre/settings", patch);
      client.setQueryData(SETTINGS_KEY, next);
      saved(message);
    } catch (e) {
      setError((e as Error).message);
      setBusy(false);
    }
  };

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    let patch: Settings;
    try {
      patch = patchOf(settings, draft, setUp);
    } catch (e) {
      setError((e as Error).message);
      return;
    }
    if (Object.keys(patch).length === 0) {
      setError(undefined);
      setDone("Nothing changed.");
      return;
    }
    await save(patch, `Saved: ${Object.keys(patch).join(", ")}.`);
  };

  return (
    <form className="settings-form" aria-label="Installation settings" onSubmit={submit}>
      <fieldset>
        <legend>General</legend>
        {topFields(settings).map(({ key, field, value }) => (
          <SettingField
            key={key}
            name={key}
            field={field}
            kind={kindOf(value, field.kind)}
            value={value}
            draft={draft[key]}
            set={set}
          />
        ))}
      </fieldset>
      {Object.entries(SECTIONS).map(([name, section]) => {
        const value = settings[name] as Record<string, unknown> | null;
        const editing = value !== null || setUp.has(name);
        return (
          <fieldset key={name} className="section">
            <legend>{section.label}</legend>
            <p className="hint">
              {section.hint} <span className="state">{value ? "Set up." : "Not set up."}</span>
            </p>
            {editing &&
              sectionFields(name, value).map(({ key, field, value: v }) => (
                <SettingField
                  key={key}
                  name={`${name}.${key}`}
                  field={field}
                  kind={kindOf(v, field.kind ?? "string")}
                  value={v}
                  draft={draft[`${name}.${key}`]}
                  set={set}
                />
              ))}
            {!editing && (
              <button type="button" onClick={() => setSetUp(new Set([...setUp, name]))}>
                Set up {section.label}
              </button>
            )}
            {value !== null && (
              <ConfirmButton
                label={`Turn off ${section.label}`}
                question={`Turn off ${section.label}? The whole section is removed, its secret too.`}
                confirm={`Remove the ${name} settings`}
                disabled={busy}
                onConfirm={() => void save({ [name]: null }, `${section.label} is off.`)}
              />
            )}
          </fieldset>
        );
      })}
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      <p role="status" className="done">
        {done ?? said ?? ""}
      </p>
      <div className="actions">
        <button type="submit" className="primary" disabled={busy}>
          Save
        </button>
      </div>
    </form>
  );
}

function SettingField({
  name,
  field,
  kind,
  value,
  draft,
  set,
}: {
  name: string;
  field: Field;
  kind: Kind | "json";
  value: unknown;
  draft: string | boolean | undefined;
  set: (key: string, value: string | boolean) => void;
}) {
  const id = useId();
  const hintId = `${id}-hint`;
  const hint = field.hint ? (
    <span id={hintId} className="hint">
      {field.hint}
    </span>
  ) : null;
  const described = field.hint ? hintId : undefined;
  let control: ReactNode;
  if (kind === "json")
    control = (
      <pre id={id} className="json" aria-describedby={described}>
        {JSON.stringify(value, null, 2)}
      </pre>
    );
  else if (kind === "boolean")
    return (
      <div className="setting check" data-setting={name}>
        <input
          id={id}
          type="checkbox"
          checked={draft === true}
          aria-describedby={described}
          onChange={(e) => set(name, e.target.checked)}
        />
        <label htmlFor={id}>{field.label}</label>
        {hint}
      </div>
    );
  else if (kind === "secret") {
    const isSet = value === SECRET_SET;
    control = (
      <>
        <span className={`chip ${isSet ? "good" : "off"}`}>{isSet ? "set" : "not set"}</span>
        <input
          id={id}
          type="password"
          autoComplete="new-password"
          placeholder={isSet ? "Leave empty to keep it" : "The secret"}
          value={String(draft ?? "")}
          aria-describedby={described}
          onChange={(e) => set(name, e.target.value)}
        />
      </>
    );
  } else if (typeof kind === "object")
    control = (
      <select
        id={id}
        value={String(draft ?? "")}
        aria-describedby={described}
        onChange={(e) => set(name, e.target.value)}
      >
        {value === undefined && <option value="">default</option>}
        {kind.options.map((o) => (
          <option key={o} value={o}>
            {o}
          </option>
        ))}
      </select>
    );
  else if (kind === "text")
    control = (
      <textarea
        id={id}
        rows={4}
        value={String(draft ?? "")}
        aria-describedby={described}
        onChange={(e) => set(name, e.target.value)}
      />
    );
  else
    control = (
      <input
        id={id}
        type={kind === "number" ? "number" : "text"}
        inputMode={kind === "number" ? "numeric" : undefined}
        value={String(draft ?? "")}
        aria-describedby={described}
        onChange={(e) => set(name, e.target.value)}
      />
    );
  return (
    <div className="setting" data-setting={name}>
      <label htmlFor={id}>
        {kind === "secret" ? `${field.label} (replace)` : field.label}
        <code className="name">{name}</code>
      </label>
      <div className="control">
        {control}
        {hint}
      </div>
    </div>
  );
}

/** The reference's "test user": each step of a sign-in as `username`, ✓ or ✗ with what it found. */
function LdapTest() {
  const [report, setReport] = useState<LdapTestReport>();
  const action = useAction([]);
  const ids = { user: useId(), password: useId() };
  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setReport(undefined);
    await action.run(async () =>
      setReport(
        await api.post<LdapTestReport>("/api/gyre/settings/ldap/test", {
          username: String(form.get("username") ?? ""),
          password: String(form.get("password") ?? ""),
        }),
      ),
    );
  };
  return (
    <section className="ldap-test" aria-labelledby="ldap-test-heading">
      <h2 id="ldap-test-heading">Test an LDAP user</h2>
      <p className="hint">Signs in as them with the saved LDAP settings, step by step; nothing is kept.</p>
      <form className="filters" aria-label="Test an LDAP user" onSubmit={submit}>
        <label htmlFor={ids.user}>Username</label>
        <input id={ids.user} name="username" autoComplete="off" required />
        <label htmlFor={ids.password}>Password</label>
        <input id={ids.password} name="password" type="password" autoComplete="off" />
        <button type="submit" disabled={action.busy}>
          Test user
        </button>
      </form>
      <Outcome error={action.error} />
      {report && (
        <div className="ldap-report" aria-live="polite">
          <ol>
            {report.steps.map((s) => (
              <li key={s.step} className={s.ok ? "ok" : "failed"}>
                <span aria-hidden="true">{s.ok ? "✓" : "✗"}</span>
                <span className="visually-hidden">{s.ok ? "passed" : "failed"}:</span>{" "}
                <strong>{s.step}</strong>: {s.detail}
              </li>
            ))}
          </ol>
          <p className={report.ok ? "good-text" : "error"}>
            {report.ok
              ? "This user can sign in with these LDAP settings."
              : "This user cannot sign in with these settings."}
          </p>
        </div>
      )}
    </section>
  );
}
