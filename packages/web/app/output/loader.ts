/**
 * Loading a node's output, step by step, and following it live: each step's chunks are asked
 * for from the next chunk number on (GET .../output/{node}/{step}?from=N), so what the page has
 * is never fetched again; a step still running is asked again every FOLLOW_MS. A failed read
 * (the network, a restart) sets `reconnecting` and is tried again with backoff from the same
 * chunk, then the state is `live` again. Steps the reader looks at load first.
 */
import { useEffect, useRef, useState } from "react";
import { ApiError, api } from "../api.ts";
import type { OutputRead } from "../types.ts";
import { StepOutput } from "./model.ts";

export const FOLLOW_MS = 250;
/** The first read of a step asks for few chunks: the first screen shows sooner. */
const FIRST_READ = 2;

export type Connection = "live" | "reconnecting" | "done";

export interface LoadableStep {
  index: number;
  status: string;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    });
  });

export function useStepOutputs(
  /** `/api/gyre/projects/{slug}/jobs/{number}/output/{node}` */
  base: string,
  steps: LoadableStep[],
  /** Steps to load first (the ones unfolded). */
  first: ReadonlySet<number>,
  /** The job has ended: once every step is complete, nothing more will come. */
  ended: boolean,
) {
  const outputs = useRef(new Map<number, StepOutput>());
  const latest = useRef({ steps, first, ended });
  latest.current = { steps, first, ended };
  const [version, setVersion] = useState(0);
  const [connection, setConnection] = useState<Connection>("live");
  const wake = useRef<() => void>(() => {});

  // A new step or a step unfolded: the loop looks again now instead of at its next tick.
  // biome-ignore lint/correctness/useExhaustiveDependencies: wakes on what the props change
  useEffect(() => wake.current(), [steps.length, first.size]);

  useEffect(() => {
    outputs.current = new Map();
    setVersion((v) => v + 1);
    const stop = new AbortController();
    let pending = false;
    const bump = () => {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => {
        pending = false;
        setVersion((v) => v + 1);
      });
    };
    const outputOf = (step: number) => {
      let out = outputs.current.get(step);
      if (!out) {
        out = new StepOutput();
        outputs.current.set(step, out);
      }
      return out;
    };

    let state: Connection = "live";
    const set = (next: Connection) => {
      if (next === state) return;
      state = next;
      setConnection(next);
    };

    (async () => {
      let failures = 0;
      while (!stop.signal.aborted) {
        const { steps: now, first: wanted } = latest.current;
        const order = [...now].sort((a, b) => Number(wanted.has(b.index)) - Number(wanted.has(a.index)));
        try {
          for (const step of order) {
            const out = outputOf(step.index);
            while (!out.complete && !stop.signal.aborted) {
              const limit = out.next === 0 ? `&limit=${FIRST_READ}` : "";
              const read = await api.get<OutputRead>(
                `${base}/${step.index}?from=${out.next}${limit}`,
                stop.signal,
              );
              out.append(read.chunks);
              out.complete = read.complete;
              if (read.chunks.length > 0 || read.complete) bump();
              if (!read.more) break;
            }
            // The reader unfolded another step: that one first.
            if ([...latest.current.first].some((s) => !wanted.has(s))) break;
          }
          failures = 0;
          const { steps: after, ended } = latest.current;
          set(ended && after.every((s) => outputs.current.get(s.index)?.complete) ? "done" : "live");
        } catch (error) {
          if (stop.signal.aborted) return;
          const status = error instanceof ApiError ? error.status : undefined;
          // Signed out meanwhile (the session ended): the page starts again at the sign-in.
          if (status === 401) {
            window.location.reload();
            return;
          }
          // Gone for good (expired) or not for this user: said once, not asked again.
          if (status === 410 || status === 403) {
            for (const s of latest.current.steps) {
              const out = outputOf(s.index);
              out.complete = true;
              out.note = (error as Error).message;
            }
            bump();
            set("done");
            return;
          }
          // A 404 for a step the steps list named: its first report is still on its way.
          if (status !== 404) {
            failures++;
            set("reconnecting");
          }
        }
        const delay = failures > 0 ? Math.min(5000, 250 * 2 ** failures) : FOLLOW_MS;
        await new Promise<void>((resolve) => {
          wake.current = resolve;
          void sleep(state === "done" ? 10 * FOLLOW_MS : delay, stop.signal).then(resolve);
        });
      }
    })();
    return () => stop.abort();
  }, [base]);

  return { outputs: outputs.current, version, connection };
}
