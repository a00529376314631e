/** What the admin sections share: an action's busy and error state, a confirm step, times in UTC. */
import { type QueryKey, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";

/** How often the live admin lists (fleet, queues) are read again. */
export const ADMIN_LIVE_MS = 3000;

/**
 * Runs one change at a time: `busy` while it runs, `error` when the API refused it (its own
 * message), `done` for what it did; the queries named are read again afterwards either way.
 */
export function useAction(invalidate: QueryKey[]) {
  const client = useQueryClient();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [done, setDone] = useState<string>();
  const run = async (what: () => Promise<unknown>, success?: string) => {
    setBusy(true);
    setError(undefined);
    setDone(undefined);
    try {
      await what();
      if (success) setDone(success);
      return true;
    } catch (e) {
      setError((e as Error).message);
      return false;
    } finally {
      await Promise.all(invalidate.map((queryKey) => client.invalidateQueries({ queryKey })));
      setBusy(false);
    }
  };
  const clear = () => {
    setError(undefined);
    setDone(undefined);
  };
  return { busy, error, done, run, clear };
}

/** An action's outcome: its refusal as an alert, its success as a polite status. */
export function Outcome({ error, done }: { error?: string; done?: string }) {
  return (
    <>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      <p role="status" className="done">
        {done ?? ""}
      </p>
    </>
  );
}

/**
 * A button for a change that is hard to undo: the first press asks (`question`), with the
 * confirming button focused and a Cancel beside it; Escape cancels too.
 */
export function ConfirmButton({
  label,
  target,
  question,
  confirm,
  onConfirm,
  disabled,
  className,
}: {
  /** The button's text; a screen reader hears it with `target` (`Suspend ada`). */
  label: string;
  target?: string;
  question: string;
  confirm: string;
  onConfirm: () => void;
  disabled?: boolean;
  className?: string;
}) {
  const [asking, setAsking] = useState(false);
  const confirmRef = useRef<HTMLButtonElement>(null);
  const askRef = useRef<HTMLButtonElement>(null);
  const wasAsking = useRef(false);
  useEffect(() => {
    if (asking) confirmRef.current?.focus();
    else if (wasAsking.current) askRef.current?.focus();
    wasAsking.current = asking;
  }, [asking]);
  if (!asking)
    return (
      <button
        type="button"
        ref={askRef}
        className={className}
        disabled={disabled}
        onClick={() => setAsking(true)}
      >
        {label}
        {target && <span className="visually-hidden"> {target}</span>}
      </button>
    );
  return (
    <fieldset
      className="confirm"
      onKeyDown={(e) => {
        if (e.key === "Escape") setAsking(false);
      }}
    >
      <legend className="question">{question}</legend>
      <button
        type="button"
        ref={confirmRef}
        className="danger"
        disabled={disabled}
        onClick={() => {
          setAsking(false);
          onConfirm();
        }}
      >
        {confirm}
      </button>
      <button type="button" onClick={() => setAsking(false)}>
        Cancel
      </button>
    </fieldset>
  );
}

/** An API time as a person reads it in an admin table: `2026-01-30 10:12:01 UTC`. */
export function utc(iso: string | null | undefined): string {
  if (!iso) return "";
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return iso;
  return `${new Date(ms).toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

export function Time({ value }: { value: string | null | undefined }) {
  if (!value) return <span className="muted">never</span>;
  return <time dateTime={value}>{utc(value)}</time>;
}

/** Megabytes as GB past 1024. */
export const memory = (mb: number) => (mb >= 1024 ? `${Math.round((mb / 1024) * 10) / 10} GB` : `${mb} MB`);

/** `n thing` / `n things`. */
export const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
