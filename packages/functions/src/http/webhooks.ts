import { badRequest } from "@gyre/core/error";
import { DeliveryId, GitHubEvent } from "@gyre/core/protocol/api";
import { parseInput } from "@gyre/core/protocol/schema";
import { receiveGithubDelivery } from "@gyre/core/webhook/deliveries";
import { Hono } from "hono";
import { allow } from "./access.ts";
import { type Env, rawBody } from "./context.ts";

/** GitHub caps webhook payloads at 25 MB. */
const MAX_WEBHOOK_BYTES = 25 * 1024 * 1024;

export function webhookRoutes() {
  const app = new Hono<Env>();

  // DESIGN.md "Dispatch" step 1: check the signature, record the delivery, enqueue, answer fast
  // (what each event does: core/src/webhook/deliveries.ts).
  app.post("/github", allow.anonymous("GitHub's HMAC signature of the delivery, checked here"), async (c) => {
    if (!c.req.header("x-github-event")) throw badRequest("Missing X-GitHub-Event header.");
    if (!c.req.header("x-github-delivery")) throw badRequest("Missing X-GitHub-Delivery header.");
    const event = parseInput(GitHubEvent, c.req.header("x-github-event"), "X-GitHub-Event header");
    const deliveryId = parseInput(DeliveryId, c.req.header("x-github-delivery"), "X-GitHub-Delivery header");
    const answer = await receiveGithubDelivery(c.get("gyre"), {
      event,
      deliveryId,
      body: await rawBody(c, MAX_WEBHOOK_BYTES),
      signature: c.req.header("x-hub-signature-256"),
    });
    return c.json(answer.body, answer.status);
  });

  return app;
}
