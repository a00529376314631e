/**
 * Scheduled: re-drive jobs left queued or running without a live execution, then emit the
 * fleet's figures (EMF, functions/src/metrics.ts). A failure is logged (name and message) and
 * rethrown, so the scheduler records a failed invocation.
 */
import type { Gyre } from "@gyre/core/context";
import { type ReconcileReport, reconcile } from "@gyre/core/dispatch/index";
import { readFleetFigures } from "@gyre/core/metrics/index";
import middy from "@middy/core";
import { describeError, lambdaGyre, logErrors } from "./lambda.ts";
import { emitFleetFigures, envOf, type LoggerFactory, statsdOf, withEventMetrics } from "./metrics.ts";

/**
 * One pass, then the fleet's figures as the pass left them. Figures that cannot be read or
 * emitted are logged; the pass stands.
 */
export async function reconcileAndMeasure(
  gyre: Gyre = lambdaGyre(),
  create?: LoggerFactory,
  log: (line: string) => void = console.error,
): Promise<ReconcileReport> {
  const report = await reconcile(gyre);
  await readFleetFigures(gyre)
    .then((figures) =>
      Promise.all([emitFleetFigures(figures, envOf(gyre), create), statsdOf(gyre)?.fleet(figures)]),
    )
    .catch((error) => log(`reconcile: metrics not emitted: ${describeError(error)}`));
  return report;
}

export function reconcileHandler(
  run: () => Promise<ReconcileReport> = () => reconcileAndMeasure(),
  log?: (line: string) => void,
) {
  return middy<unknown, ReconcileReport>()
    .use(logErrors("reconcile", log))
    .handler(async () => {
      const report = await run();
      console.log(JSON.stringify({ reconcile: report }));
      return report;
    });
}

export const handler = withEventMetrics(reconcileHandler());
