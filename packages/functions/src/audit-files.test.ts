import type { Context } from "aws-lambda";
import { describe, expect, it, vi } from "vitest";
import { auditFilesHandler } from "./audit-files.ts";

const context = {} as Context;

describe("audit files handler", () => {
  it("answers the pass's report and logs its summary on one line", async () => {
    const report = {
      redelivered: 1,
      unreadable: [],
      files: [
        {
          hour: "2026-03-01T10",
          key: "audit-logs/audit_log/v1/2026/03/01/10/2026-03-01T10.json",
          records: 3,
        },
        {
          hour: "2026-03-01T11",
          key: "audit-logs/audit_log/v1/2026/03/01/11/2026-03-01T11.json",
          records: 2,
        },
      ],
      through: "2026-03-01T11",
    };
    const logged = vi.spyOn(console, "log").mockImplementation(() => {});
    try {
      expect(await auditFilesHandler(async () => report)({}, context)).toEqual(report);
      expect(logged).toHaveBeenCalledWith(
        JSON.stringify({
          auditFiles: { redelivered: 1, unreadable: [], files: 2, records: 5, through: "2026-03-01T11" },
        }),
      );
    } finally {
      logged.mockRestore();
    }
  });

  it("logs a failure's name and message and rethrows it, so the scheduler sees it fail", async () => {
    const lines: string[] = [];
    const failure = new Error("bucket unavailable");
    const handler = auditFilesHandler(
      async () => {
        throw failure;
      },
      (line) => lines.push(line),
    );
    await expect(handler({}, context)).rejects.toBe(failure);
    expect(lines).toEqual(["audit-files: failed: Error: bucket unavailable"]);
  });
});
