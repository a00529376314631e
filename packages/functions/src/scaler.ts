/**
 * Scheduled every minute: sizes each builder group to its class's queue and running jobs
 * (node/scaling.ts). A group that could not be sized is logged; the pass still fails loudly
 * (rethrown) only when nothing could be read at all.
 */
import { scaleFleet } from "@gyre/core/node/scaling";
import middy from "@middy/core";
import { lambdaGyre, logErrors } from "./lambda.ts";

type Pass = Awaited<ReturnType<typeof scaleFleet>>;

export function scalerHandler(
  run: () => Promise<Pass> = () => {
    const gyre = lambdaGyre();
    const fleet = gyre.resources.fleet;
    return scaleFleet(gyre, fleet?.groups ?? [], (fleet?.idleSeconds ?? 600) * 1000);
  },
  log?: (line: string) => void,
) {
  return middy<unknown, Pass>()
    .use(logErrors("scaler", log))
    .handler(async () => {
      const pass = await run();
      console.log(JSON.stringify({ scaler: pass }));
      return pass;
    });
}

export const handler = scalerHandler();
