/**
 * What the project settings sections share: the project as Gyre answers it, whether the user
 * may change it (asked of the API, never guessed), a write's busy and error state, a section's
 * changes with what they did, a delete that asks first, and a copyable read-only value.
 */
import { type QueryKey, useQuery, useQueryClient } from "@tanstack/react-query";
import {
  type FormEvent,
  type KeyboardEvent,
  type ReactNode,
  useEffect,
  useId,
  useRef,
  useState,
} from "react";
import { api, slugPath } from "../../api.ts";
import { useProject } from "../../permission.ts";
import "../../forms.css";

export { type GyreProject, projectPath, useProject } from "../../permission.ts";

/** A v1.1 project token (`GET /api/v1.1/project/{slug}/token`), never its value. */
export interface ProjectToken {
  id: string;
  label: string;
  scope: "status" | "view-builds" | "all";
  time: string | null;
  last_used_at: string | null;
}

export const tokensPath = (slug: string) => `/api/v1.1/project/${slugPath(slug)}/token`;
export const tokensKey = (slug: string) => ["project-tokens", slug];

/**
 * Whether the user may change the project's settings (admin permission on it, as the project's
 * own answer says), and its tokens (the badge section's list, which takes admin to read).
 */
export function useProjectAdmin(slug: string) {
  const project = useProject(slug);
  const admin = project.data ? project.data.permission === "admin" : undefined;
  const tokens = useQuery({
    queryKey: tokensKey(slug),
    queryFn: () => api.get<ProjectToken[]>(tokensPath(slug)),
    enabled: admin === true,
    retry: false,
  });
  return { admin, tokens };
}

/** A write's state: busy while it runs, its error (the API's message) when it failed. */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const run = async (what: () => Promise<unknown>): Promise<boolean> => {
    setBusy(true);
    setError(undefined);
    try {
      await what();
      return true;
    } catch (e) {
      setError((e as Error).message);
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, run, setError };
}

/**
 * A section's changes: each runs as its `action` (busy while it runs, the API's message when it
 * failed), says what it did in `done` (the section's status line) and reads `keys` again.
 * - `edit(what)`: clears `done`, runs `what` as the action; once it succeeded, `done` is the
 *   message it returned and `keys` are read again (still busy). Whether it succeeded.
 * - `submit(what)`: a form's onSubmit: `edit` with the form's data; the form is reset only once
 *   it succeeded, so a refused one stays as it was filled.
 * - `change(what)`: `edit` without the action, throwing what `what` throws: for a form that runs
 *   it as its own action (its error shown in it).
 */
export function useEdits(...keys: QueryKey[]) {
  const client = useQueryClient();
  const action = useAction();
  const [done, setDone] = useState("");
  const refresh = () => Promise.all(keys.map((queryKey) => client.invalidateQueries({ queryKey })));
  const change = async (what: () => Promise<string>) => {
    setDone("");
    setDone(await what());
    await refresh();
  };
  const edit = (what: () => Promise<string>) => action.run(() => change(what));
  const submit =
    (what: (data: FormData, form: HTMLFormElement) => Promise<string>) =>
    async (event: FormEvent<HTMLFormElement>) => {
      event.preventDefault();
      const form = event.currentTarget;
      const data = new FormData(form);
      await edit(async () => {
        const message = await what(data, form);
        form.reset();
        return message;
      });
    };
  return { action, done, setDone, refresh, edit, submit, change };
}

/** A refusal (the API's message), brought into view when it appears: it may be below the fold. */
export function ErrorText({ error }: { error?: string }) {
  const shown = useRef<HTMLParagraphElement>(null);
  useEffect(() => {
    if (error) shown.current?.scrollIntoView({ block: "nearest" });
  }, [error]);
  if (!error) return null;
  return (
    <p role="alert" className="error" ref={shown}>
      {error}
    </p>
  );
}

/** What a section's last change came to: the API's refusal (an alert), or what it did (a status). */
export function Outcome({ error, done }: { error?: string; done: string }) {
  return (
    <>
      <ErrorText error={error} />
      <p role="status" className="hint">
        {done}
      </p>
    </>
  );
}

/** What a section says to a user who may look but not change. */
export function ReadOnly({ children }: { children?: ReactNode }) {
  return (
    <p className="hint read-only">
      {children ?? "Read only: changing these needs admin permission on the project."}
    </p>
  );
}

/**
 * A delete that asks first: the button turns into "Delete X?" with a confirming button (focused)
 * and Cancel; Escape cancels, and focus returns to the button.
 */
export function ConfirmDelete(props: {
  what: string;
  onConfirm: () => Promise<unknown>;
  label?: string;
  disabled?: boolean;
}) {
  const { what, onConfirm, label = "Delete", disabled } = props;
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const yes = useRef<HTMLButtonElement>(null);
  const first = useRef<HTMLButtonElement>(null);
  const wasAsking = useRef(false);
  useEffect(() => {
    if (asking) yes.current?.focus();
    else if (wasAsking.current) first.current?.focus();
    wasAsking.current = asking;
  }, [asking]);
  const cancelOnEscape = (e: KeyboardEvent) => e.key === "Escape" && setAsking(false);
  if (!asking)
    return (
      <button type="button" className="small" ref={first} disabled={disabled} onClick={() => setAsking(true)}>
        {label}
        <span className="visually-hidden"> {what}</span>
      </button>
    );
  return (
    <span className="confirm">
      <span>
        {label} {what}?
      </span>
      <button
        type="button"
        className="small danger"
        ref={yes}
        disabled={busy}
        onKeyDown={cancelOnEscape}
        onClick={async () => {
          setBusy(true);
          try {
            await onConfirm();
          } finally {
            setBusy(false);
            setAsking(false);
          }
        }}
      >
        Yes, {label.toLowerCase()}
        <span className="visually-hidden"> {what}</span>
      </button>
      <button type="button" className="small" onClick={() => setAsking(false)} onKeyDown={cancelOnEscape}>
        Cancel
      </button>
    </span>
  );
}

/** A value to copy: a read-only field with its label and a Copy button. */
export function CopyField({
  label,
  value,
  multiline,
}: {
  label: string;
  value: string;
  multiline?: boolean;
}) {
  const id = useId();
  const [copied, setCopied] = useState(false);
  const field = useRef<HTMLInputElement & HTMLTextAreaElement>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value);
      setCopied(true);
      setTimeout(() => setCopied(false), 2000);
    } catch {
      // No clipboard (a page not served over HTTPS): select it for the person to copy.
      field.current?.select();
    }
  };
  return (
    <div className="copy-field">
      <label htmlFor={id}>{label}</label>
      <div className="copy-row">
        {multiline ? (
          <textarea id={id} ref={field} readOnly value={value} rows={2} spellCheck={false} />
        ) : (
          <input id={id} ref={field} readOnly value={value} spellCheck={false} />
        )}
        <button type="button" className="small" onClick={() => void copy()}>
          Copy<span className="visually-hidden"> {label}</span>
        </button>
        <span role="status" className="hint">
          {copied ? "Copied" : ""}
        </span>
      </div>
    </div>
  );
}

/** A section of the settings page: its heading (linked from the page's contents) and body. */
export function Section({ id, title, children }: { id: string; title: string; children: ReactNode }) {
  return (
    <section id={id} className="settings-section" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>{title}</h2>
      {children}
    </section>
  );
}

const ENV_NAME = "[A-Za-z_][A-Za-z0-9_]*";

/** A variable's Name and Value fields, in a form that stores one (the project's, a context's). */
export function VariableFields() {
  return (
    <>
      <label>
        Name
        <input
          name="name"
          required
          pattern={ENV_NAME}
          maxLength={256}
          autoComplete="off"
          spellCheck={false}
          title="Letters, digits and underscores, not starting with a digit"
        />
      </label>
      <label>
        Value
        <input name="value" type="password" required autoComplete="new-password" />
      </label>
    </>
  );
}

export const when = (iso: string | null | undefined) =>
  iso ? new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }) : "";
