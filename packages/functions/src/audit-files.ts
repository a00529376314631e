/**
 * Scheduled every hour: delivers the audit log's hourly files into the bucket
 * (core/src/audit/delivery.ts), parked records first. A pass that fails is logged and rethrown,
 * so the scheduler records a failed invocation; the next pass writes what this one did not.
 * Linked to the table and the bucket only (no metrics: it emits no job events).
 */
import { type AuditDelivery, deliverAuditFiles } from "@gyre/core/audit/delivery";
import middy from "@middy/core";
import { lambdaGyre, logErrors } from "./lambda.ts";

export function auditFilesHandler(
  run: () => Promise<AuditDelivery> = () => deliverAuditFiles(lambdaGyre()),
  log?: (line: string) => void,
) {
  return middy<unknown, AuditDelivery>()
    .use(logErrors("audit-files", log))
    .handler(async () => {
      const report = await run();
      console.log(
        JSON.stringify({
          auditFiles: {
            redelivered: report.redelivered,
            unreadable: report.unreadable,
            files: report.files.length,
            records: report.files.reduce((n, f) => n + f.records, 0),
            through: report.through,
          },
        }),
      );
      return report;
    });
}

export const handler = auditFilesHandler();
