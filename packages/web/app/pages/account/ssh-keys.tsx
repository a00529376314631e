/**
 * The signed-in user's SSH public keys (`/api/gyre/me/ssh-keys`): the keys a job rerun with SSH
 * lets them log in with. Listed by title and SHA-256 fingerprint, added by pasting an OpenSSH
 * public key line (the API checks it and says what is wrong with a bad one), deleted after
 * asking.
 */
import { useQuery } from "@tanstack/react-query";
import { api } from "../../api.ts";
import { Failure } from "../../layout.tsx";
import { DataTable } from "../../table.tsx";
import type { UserSshKey } from "../../types.ts";
import { ConfirmDelete, Outcome, Section, useEdits, when } from "../project-settings/common.tsx";

const PATH = "/api/gyre/me/ssh-keys";
const KEY = ["me", "ssh-keys"];

export function SshKeysSection() {
  const keys = useQuery({ queryKey: KEY, queryFn: () => api.get<{ items: UserSshKey[] }>(PATH) });
  const { action, done, edit, submit } = useEdits(KEY);

  const add = submit(async (data) => {
    const title = String(data.get("title") ?? "").trim();
    const publicKey = String(data.get("public_key") ?? "");
    // A private key pasted by mistake never leaves the page.
    if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(publicKey))
      throw new Error(
        "This is a private key: it was not sent. Paste the public one: the .pub file beside it, or what `ssh-keygen -y -f <key file>` prints.",
      );
    const added = await api.post<UserSshKey>(PATH, {
      public_key: publicKey,
      ...(title ? { title } : {}),
    });
    return `Added the key ${added.fingerprint}.`;
  });
  const remove = (k: UserSshKey) =>
    edit(async () => {
      await api.delete(`${PATH}/${encodeURIComponent(k.fingerprint)}`);
      return `Deleted the key ${k.fingerprint}.`;
    });

  return (
    <Section id="ssh-keys" title="SSH keys">
      <p className="hint">
        Public keys you may log in with to a job rerun with SSH. Gyre keeps only the public half.
      </p>
      {keys.isError && <Failure error={keys.error} />}
      {keys.isPending && <p aria-busy="true">Loading SSH keys…</p>}
      {keys.data && (
        <DataTable
          label="Your SSH keys"
          items={keys.data.items}
          rowKey={(k) => k.fingerprint}
          columns={[
            {
              header: "Title",
              rowHeader: true,
              cell: (k) => k.title || <span className="hint">untitled</span>,
            },
            { header: "Fingerprint", cell: (k) => <code className="fingerprint">{k.fingerprint}</code> },
            { header: "Added", cell: (k) => when(k.created_at) },
          ]}
          actions={(k) => (
            <ConfirmDelete
              what={`the key ${k.fingerprint}`}
              onConfirm={() => remove(k)}
              disabled={action.busy}
            />
          )}
          empty={<p>No SSH keys yet.</p>}
        />
      )}
      <form className="stacked-form" aria-label="Add an SSH key" onSubmit={add}>
        <label>
          <span>
            Public key <span className="hint">(one line, as in ~/.ssh/id_ed25519.pub)</span>
          </span>
          <textarea
            name="public_key"
            required
            rows={3}
            autoComplete="off"
            spellCheck={false}
            placeholder="ssh-ed25519 AAAA… you@laptop"
          />
        </label>
        <label>
          <span>
            Title <span className="hint">(optional: the key's comment otherwise)</span>
          </span>
          <input name="title" maxLength={200} autoComplete="off" spellCheck={false} />
        </label>
        <button type="submit" className="primary" disabled={action.busy}>
          Add SSH key
        </button>
      </form>
      <Outcome error={action.error} done={done} />
    </Section>
  );
}
