/**
 * A project's SSH keys:
 * - additional SSH keys (v1.1 `/project/{slug}/ssh-key`): a private key for a host (or every
 *   host) that `add_ssh_keys` gives a job; listed by fingerprint, never the key;
 * - checkout keys (v2 `/project/{slug}/checkout-key`): key pairs Gyre makes, whose private half
 *   checks the repository out; the public half is shown to add to the repository as a deploy key.
 */
import { useQuery } from "@tanstack/react-query";
import { api, query, slugPath } from "../../api.ts";
import { Failure } from "../../layout.tsx";
import { DataTable } from "../../table.tsx";
import { ConfirmDelete, CopyField, Outcome, ReadOnly, Section, useEdits, when } from "./common.tsx";

interface SshKey {
  hostname: string;
  fingerprint: string;
  public_key: string;
  created_at: string;
}

interface CheckoutKey {
  "public-key": string;
  type: "deploy-key" | "github-user-key";
  fingerprint: string;
  preferred: boolean;
  "created-at": string;
}

export function SshKeysSection({ slug, admin }: { slug: string; admin: boolean | undefined }) {
  const path = `/api/v1.1/project/${slugPath(slug)}/ssh-key`;
  const key = ["ssh-keys", slug];
  const keys = useQuery({ queryKey: key, queryFn: () => api.get<SshKey[]>(path) });
  const { action, done, edit, submit } = useEdits(key);

  const add = submit(async (data) => {
    const hostname = String(data.get("hostname") ?? "").trim();
    const made = await api.post<SshKey>(path, {
      hostname,
      private_key: String(data.get("private_key") ?? ""),
    });
    return `Added the key ${made.fingerprint}${hostname ? ` for ${hostname}` : ""}.`;
  });
  const remove = (k: SshKey) =>
    edit(async () => {
      await api.delete(`${path}${query({ fingerprint: k.fingerprint, hostname: k.hostname })}`);
      return `Deleted the key ${k.fingerprint}.`;
    });

  const items = keys.data ?? [];
  return (
    <Section id="ssh-keys" title="Additional SSH keys">
      <p className="hint">
        Keys a job adds with the <code>add_ssh_keys</code> step, to reach other servers. Gyre keeps the
        private key sealed and shows only its fingerprint.
      </p>
      {keys.isError && <Failure error={keys.error} />}
      {keys.isPending && <p aria-busy="true">Loading SSH keys…</p>}
      {keys.data && (
        <DataTable
          label="Additional SSH keys"
          items={items}
          rowKey={(k) => `${k.fingerprint} ${k.hostname}`}
          columns={[
            { header: "Hostname", cell: (k) => k.hostname || <span className="hint">every host</span> },
            { header: "Fingerprint", cell: (k) => <code className="fingerprint">{k.fingerprint}</code> },
            { header: "Added", cell: (k) => when(k.created_at) },
          ]}
          actions={
            admin
              ? (k) => (
                  <ConfirmDelete
                    what={`the key ${k.fingerprint}${k.hostname ? ` for ${k.hostname}` : ""}`}
                    onConfirm={() => remove(k)}
                    disabled={action.busy}
                  />
                )
              : undefined
          }
          empty={<p>No additional SSH keys.</p>}
        />
      )}
      {admin === false && <ReadOnly />}
      {admin && (
        <form className="stacked-form" aria-label="Add an SSH key" onSubmit={add}>
          <label>
            <span>
              Hostname <span className="hint">(empty for every host)</span>
            </span>
            <input
              name="hostname"
              maxLength={253}
              autoComplete="off"
              spellCheck={false}
              placeholder="deploy.example.com"
            />
          </label>
          <label>
            <span>
              Private key <span className="hint">(PEM or OpenSSH, without a passphrase)</span>
            </span>
            <textarea
              name="private_key"
              required
              rows={5}
              autoComplete="off"
              spellCheck={false}
              placeholder="-----BEGIN OPENSSH PRIVATE KEY-----"
            />
          </label>
          <button type="submit" className="primary" disabled={action.busy}>
            Add SSH key
          </button>
        </form>
      )}
      <Outcome error={action.error} done={done} />
    </Section>
  );
}

export function CheckoutKeysSection({ slug, admin }: { slug: string; admin: boolean | undefined }) {
  const path = `/api/v2/project/${slugPath(slug)}/checkout-key`;
  const key = ["checkout-keys", slug];
  const keys = useQuery({ queryKey: key, queryFn: () => api.get<{ items: CheckoutKey[] }>(path) });
  const { action, done, edit } = useEdits(key);

  const create = () =>
    edit(async () => {
      const made = await api.post<CheckoutKey>(path, { type: "deploy-key" });
      return `Made the deploy key ${made.fingerprint}: add its public key to the repository.`;
    });
  const remove = (k: CheckoutKey) =>
    edit(async () => {
      await api.delete(`${path}/${encodeURIComponent(k.fingerprint)}`);
      return `Deleted the checkout key ${k.fingerprint}.`;
    });

  const items = keys.data?.items ?? [];
  return (
    <Section id="checkout-keys" title="Checkout keys">
      <p className="hint">
        The key a job's <code>checkout</code> step uses to fetch the repository over SSH: the newest is
        preferred. Add a deploy key's public key to the repository (GitHub: Settings › Deploy keys, read
        only).
      </p>
      {keys.isError && <Failure error={keys.error} />}
      {keys.isPending && <p aria-busy="true">Loading checkout keys…</p>}
      {keys.data &&
        (items.length === 0 ? (
          <p>No checkout keys.</p>
        ) : (
          <ul className="checkout-keys" aria-label="Checkout keys">
            {items.map((k) => (
              <li key={k.fingerprint} className="checkout-key">
                <p>
                  <strong>{k.type === "deploy-key" ? "Deploy key" : "User key"}</strong>{" "}
                  <code className="fingerprint">{k.fingerprint}</code>
                  {k.preferred && <span className="chip good small">preferred</span>}{" "}
                  <span className="hint">added {when(k["created-at"])}</span>
                  {admin && (
                    <ConfirmDelete
                      what={`the checkout key ${k.fingerprint}`}
                      onConfirm={() => remove(k)}
                      disabled={action.busy}
                    />
                  )}
                </p>
                <CopyField label={`Public key ${k.fingerprint}`} value={k["public-key"]} />
              </li>
            ))}
          </ul>
        ))}
      {admin === false && <ReadOnly />}
      {admin && (
        <p>
          <button type="button" className="primary" disabled={action.busy} onClick={() => void create()}>
            Add deploy key
          </button>
        </p>
      )}
      <Outcome error={action.error} done={done} />
    </Section>
  );
}
