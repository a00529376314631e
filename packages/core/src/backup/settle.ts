/**
 * After a restore, nothing stays running. A backup taken while builds ran holds jobs recorded
 * `queued` or `running` whose builders, queues and executions belonged to the installation
 * that was backed up: the reference warns that such a build "may permanently show that it is
 * in Running state" and has the operator clean it up by hand. Gyre does it at restore time:
 * every job still queued or running ends `infrastructure_fail` with a message saying why
 * (running allocations are `lost`, queued ones `infrastructure_fail`), through the transition
 * table's own moves. Nothing is run again by itself (a deploy half done before the backup is
 * not repeated behind the operator's back): rerun the workflow to build it again.
 *
 * Jobs still blocked behind one of them are left in the active index: the reconciler's first
 * pass of the restored installation advances their workflows (marks them `not_run`, or
 * releases them when what they require had succeeded), with the builders and executions that
 * installation has. A workflow with nothing blocked is advanced here (its GitHub status and
 * its insights run record), which starts nothing.
 *
 * The interrupted allocations' step output ends too: a step its steps document still shows
 * `running` is marked `canceled` at the settle time, and its output gets a last line saying the
 * restore interrupted it. Otherwise `gyre logs` and the web app would show it running for ever.
 */
import { auditJob } from "../audit/index.ts";
import type { Gyre } from "../context.ts";
import { advanceWorkflow } from "../dispatch/advance.ts";
import { settleJob } from "../dispatch/allocation.ts";
import { ACTIVE_JOB, findJob, type Job, JobSchema, TERMINAL_ALLOCATION } from "../job/index.ts";
import { allocationMove, combine, jobMove } from "../job/transitions.ts";
import { type AllocationKey, readStepChunks, readSteps, writeOutput } from "../output/index.ts";
import { parseStored } from "../protocol/schema.ts";
import { queryRaw, tryUpdate } from "../store/index.ts";
import { ACTIVE_SHARDS, Keys } from "../table.ts";
import { readWorkflow } from "../workflow/index.ts";

export interface SettleReport {
  /** Jobs ended `infrastructure_fail` because the restore interrupted them. */
  interrupted: number;
  /** Workflows advanced here (nothing in them was still blocked). */
  workflowsAdvanced: number;
  /** Workflows left to the reconciler's first pass (a job in them is still blocked). */
  workflowsLeft: number;
  failures: string[];
}

export const interruptedMessage = (backupCreatedAt: string, status: "queued" | "running") =>
  status === "running"
    ? `The build was interrupted by a restore: it was running when the backup was taken (${backupCreatedAt}), and its builder did not survive the restore. Rerun the workflow to build it again.`
    : `The build was interrupted by a restore: it was waiting for a builder when the backup was taken (${backupCreatedAt}), and was not started after it. Rerun the workflow to build it.`;

/** The line a step the restore interrupted ends its output with. */
export const interruptedStepLine = (backupCreatedAt: string) =>
  `This step was interrupted by a restore: it was running when the backup was taken (${backupCreatedAt}). Rerun the workflow to run it again.\n`;

/**
 * Ends the steps an interrupted allocation's steps document shows `running`: `canceled` at
 * `endedAt`, with `interruptedStepLine` after the output they have, on a line of its own (as
 * the chunk after their last one; a gap left by an upload the backup missed gets it instead,
 * so the line is where a follower of the output reads next). Written before the job's end: a
 * settle run again after a failure finds the job still active and its steps already ended,
 * and adds nothing.
 */
async function endInterruptedSteps(
  gyre: Gyre,
  alloc: AllocationKey,
  endedAt: string,
  backupCreatedAt: string,
) {
  const steps = await readSteps(gyre, alloc);
  const running = steps.filter((step) => step.status === "running");
  if (running.length === 0) return;
  const chunks = await Promise.all(
    running.map(async (step) => {
      const { chunks, next } = await readStepChunks(gyre, alloc, step.index, 0);
      const unfinished = chunks.length > 0 && !chunks.at(-1)!.data.endsWith("\n");
      return {
        step: step.index,
        seq: next,
        data: `${unfinished ? "\n" : ""}${interruptedStepLine(backupCreatedAt)}`,
      };
    }),
  );
  await writeOutput(gyre, alloc, {
    chunks,
    steps: steps.map((step) => (step.status === "running" ? { ...step, status: "canceled", endedAt } : step)),
  });
}

/** Ends one job that the restore interrupted; false when it was not queued or running (any more). */
export async function interruptJob(gyre: Gyre, job: Job, backupCreatedAt: string): Promise<boolean> {
  if (!ACTIVE_JOB.has(job.status)) return false;
  const now = gyre.now();
  const stoppedAt = new Date(now).toISOString();
  const moves = Object.entries(job.allocations)
    .filter(([, a]) => !TERMINAL_ALLOCATION.has(a.status))
    .map(([index, a]) =>
      a.status === "running"
        ? allocationMove(job, Number(index), "lose", "lost", { stoppedAt }, now)
        : allocationMove(job, Number(index), "expire", "infrastructure_fail", { stoppedAt }, now),
    );
  // Every allocation ended but not the job (a report died between its two writes): its own result.
  if (moves.length === 0) return settleJob(gyre, job);
  for (const [index, a] of Object.entries(job.allocations))
    if (a.status === "running")
      await endInterruptedSteps(
        gyre,
        { jobId: job.id, attempt: job.attempt, index: Number(index) },
        stoppedAt,
        backupCreatedAt,
      );
  const message = interruptedMessage(backupCreatedAt, job.status === "running" ? "running" : "queued");
  const messages = [...(job.messages ?? []), { type: "error", message, reason: "restore" }];
  const settled = await tryUpdate(
    gyre,
    Keys.job(job.workflowId, job.name),
    combine(...moves, jobMove(job, "settle", "infrastructure_fail", { stoppedAt, messages }, now)),
  );
  if (settled) await auditJob(gyre, "workflow.job.finish", { ...job, status: "infrastructure_fail" });
  return settled;
}

/** Settles every job a restored table shows queued or running (see above). */
export async function settleRestoredJobs(
  gyre: Gyre,
  options: { backupCreatedAt: string },
): Promise<SettleReport> {
  const report: SettleReport = { interrupted: 0, workflowsAdvanced: 0, workflowsLeft: 0, failures: [] };
  const workflows = new Set<string>();
  const each = async (what: string, work: () => Promise<void>) => {
    try {
      await work();
    } catch (error) {
      report.failures.push(`${what}: ${error instanceof Error ? error.message : String(error)}`);
    }
  };
  for (let shard = 0; shard < ACTIVE_SHARDS; shard++) {
    for await (const item of queryRaw(gyre, { index: "gsi2", partition: `ACTIVE#${shard}` })) {
      if (typeof item.sk !== "string" || !item.sk.startsWith("JOB#")) continue;
      await each(`${item.pk}/${item.sk}`, async () => {
        const job = parseStored(JobSchema, item, "job");
        // The index is not read consistently: the item itself says what the job is now.
        const current = await findJob(gyre, job.workflowId, job.name);
        if (!current) return;
        if (await interruptJob(gyre, current, options.backupCreatedAt)) {
          report.interrupted++;
          workflows.add(current.workflowId);
        }
      });
    }
  }
  for (const id of workflows) {
    await each(`workflow ${id}`, async () => {
      const { jobs } = await readWorkflow(gyre, id);
      if (jobs.some((j) => j.status === "blocked")) {
        report.workflowsLeft++;
        return;
      }
      await advanceWorkflow(gyre, id);
      report.workflowsAdvanced++;
    });
  }
  return report;
}
