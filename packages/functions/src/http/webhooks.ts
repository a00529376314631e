import { badRequest, GyreError, notFound } from "@gyre/core/error";
import { enqueueIntake, newIntakeMessage } from "@gyre/core/pipeline/index";
import { getWebhookSecret } from "@gyre/core/project/index";
import { DeliveryId, GitHubEvent } from "@gyre/core/protocol/api";
import { parseInput } from "@gyre/core/protocol/schema";
import { deleteItem } from "@gyre/core/store/index";
import { Keys } from "@gyre/core/table";
import { assertSignature, parsePush, recordDelivery, repositoryFullName } from "@gyre/core/webhook/github";
import { Hono } from "hono";
import { type Env, rawBody } from "./context.ts";

/** GitHub caps webhook payloads at 25 MB. */
const MAX_WEBHOOK_BYTES = 25 * 1024 * 1024;

export function webhookRoutes() {
  const app = new Hono<Env>();

  // DESIGN.md "Dispatch" step 1: check the signature, record the delivery, enqueue, answer fast.
  app.post("/github", async (c) => {
    const gyre = c.get("gyre");
    if (!c.req.header("x-github-event")) throw badRequest("Missing X-GitHub-Event header.");
    if (!c.req.header("x-github-delivery")) throw badRequest("Missing X-GitHub-Delivery header.");
    const event = parseInput(GitHubEvent, c.req.header("x-github-event"), "X-GitHub-Event header");
    const deliveryId = parseInput(DeliveryId, c.req.header("x-github-delivery"), "X-GitHub-Delivery header");
    const body = await rawBody(c, MAX_WEBHOOK_BYTES);
    let payload: unknown;
    try {
      payload = JSON.parse(Buffer.from(body).toString("utf8"));
    } catch {
      throw badRequest("Malformed JSON body.");
    }
    // Bounded and well formed before anything is looked up (a 3,000-character name is a 400).
    const slug = `gh/${repositoryFullName(payload)}`;
    const found = await getWebhookSecret(gyre, slug);
    if (!found) throw notFound(`No project ${slug}: add it with "gyre project add".`);
    assertSignature(found.secret, body, c.req.header("x-hub-signature-256"));

    if (event === "ping") return c.json({ message: "pong", project_slug: slug });
    if (event !== "push") return c.json({ message: `Event "${event}" does not start pipelines.` }, 202);

    const push = parsePush(payload);
    if (push.deleted) return c.json({ message: "A deleted branch or tag has nothing to build." }, 202);
    const message = newIntakeMessage({
      projectSlug: found.project.slug,
      trigger: { type: "webhook", receivedAt: new Date(gyre.now()).toISOString(), actor: push.pusher },
      ref: push.ref,
      commit: push.commit,
    });
    if (!(await recordDelivery(gyre, deliveryId, message))) {
      return c.json({ message: `Delivery ${deliveryId} was already received.` }, 200);
    }
    try {
      await enqueueIntake(gyre, message);
    } catch (error) {
      // Forget the delivery so that GitHub's "Redeliver" gets the push in after all.
      await deleteItem(gyre, Keys.delivery(deliveryId)).catch(() => undefined);
      throw new GyreError("internal", "Could not enqueue the push.", error);
    }
    return c.json({ message: "Accepted.", pipeline_id: message.pipelineId }, 202);
  });

  return app;
}
