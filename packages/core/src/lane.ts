/**
 * Lanes: requests for one thing that arrive while an earlier request for it is in flight are
 * answered together, by one run that starts when the earlier one ends. With nothing in flight
 * a request runs at once, alone, so a quiet system waits for nothing; under a burst the cost
 * per request falls with the size of the batch. Every answer comes from a run that started
 * after its request was made: nothing is answered from a stale read.
 *
 * Used where a burst of API triggers meets one item or one endpoint: the project read, the
 * project's number counter, the pipeline writes, the intake queue, `git ls-remote`. On AWS an
 * HTTP Lambda invocation serves one request, so its batches hold one (a BatchWriteItem or
 * SendMessageBatch of one entry); the intake Lambda's ten records of one invocation do share
 * project reads and counter updates. A flush must not call its own lane (it would wait on
 * itself).
 *
 * Why not DataLoader: it batches what arrives in one tick of the event loop, which under load
 * is a batch of one or two; a lane batches what arrives during the round trip, which is where
 * the requests pile up.
 */

interface Pending<In, Out> {
  inputs: In[];
  answers: Promise<Out[]>;
}

interface Lane<In, Out> {
  current?: Promise<unknown>;
  next?: Pending<In, Out>;
}

/** Lanes by scope (a Gyre, a module) and key; a lane is dropped once it has nothing to do. */
const scopes = new WeakMap<object, Map<string, Lane<unknown, unknown>>>();

/**
 * Runs `input` through the lane `key` of `scope`: `flush` gets every input of one batch, in
 * arrival order, and answers one output per input (or throws: then every request of that batch
 * fails with the error). Callers of one lane must pass the same kind of `flush`.
 */
export function inLane<In, Out>(
  scope: object,
  key: string,
  input: In,
  flush: (inputs: In[]) => Promise<Out[]>,
): Promise<Out> {
  const lanes = scopes.get(scope) ?? new Map<string, Lane<unknown, unknown>>();
  scopes.set(scope, lanes);
  const here = (lanes.get(key) ?? {}) as Lane<In, Out>;
  lanes.set(key, here as Lane<unknown, unknown>);
  const start = (inputs: In[]): Promise<Out[]> => {
    let flushed: Promise<Out[]>;
    try {
      flushed = flush(inputs);
    } catch (error) {
      flushed = Promise.reject(error);
    }
    const run = flushed.then((outputs) => {
      if (outputs.length !== inputs.length)
        throw new Error(`A lane's flush answered ${outputs.length} outputs for ${inputs.length} inputs.`);
      return outputs;
    });
    here.current = run;
    const settled = () => {
      if (here.current !== run) return;
      here.current = undefined;
      if (!here.next) lanes.delete(key);
    };
    run.then(settled, settled);
    return run;
  };
  if (!here.current) return start([input]).then((outputs) => outputs[0] as Out);
  if (!here.next) {
    const inputs: In[] = [];
    const after = () => {
      here.next = undefined;
      return start(inputs);
    };
    here.next = { inputs, answers: here.current.then(after, after) };
  }
  const position = here.next.inputs.push(input) - 1;
  return here.next.answers.then((outputs) => outputs[position] as Out);
}

/** The lane of identical requests: every caller of one batch gets the same answer of one run. */
export function sharedFreshRun<T>(scope: object, key: string, fn: () => Promise<T>): Promise<T> {
  return inLane<undefined, T>(scope, key, undefined, async (inputs) => {
    const answer = await fn();
    return inputs.map(() => answer);
  });
}
