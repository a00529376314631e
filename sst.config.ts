/// <reference path="./.sst/platform/config.d.ts" />

/**
 * Gyre on AWS. Every resource is declared in infra/*.ts; this file only orders them. Deploy with
 * `npx sst deploy --stage prod` (see docs/deploy.md); check offline with `npm run check:infra`.
 */
export default $config({
  app(input) {
    const production = ["prod", "production"].includes(input?.stage ?? "");
    return {
      name: "gyre",
      home: "aws",
      // Production keeps its table, bucket and key on `sst remove` and refuses to be removed.
      removal: production ? "retain" : "remove",
      protect: production,
    };
  },
  async run() {
    const storage = await import("./infra/storage.ts");
    await import("./infra/queues.ts");
    const { api } = await import("./infra/api.ts");
    const dispatch = await import("./infra/dispatch.ts");
    await import("./infra/intake.ts");
    const fleet = await import("./infra/fleet.ts");
    const metrics = await import("./infra/metrics.ts");
    const web = await import("./infra/web.ts");
    return {
      api: api.url,
      webhookUrl: $interpolate`${api.url}/webhooks/github`,
      table: storage.table.name,
      bucket: storage.bucket.name,
      stateMachine: dispatch.stateMachine.arn,
      builderGroups: fleet.groups.map((group) => group.name),
      dashboard: metrics.dashboard.dashboardName,
      alarmTopic: metrics.alarmTopic.arn,
      webApp: api.url,
      webFiles: web.webFiles.length,
    };
  },
});
