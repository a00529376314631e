/**
 * A project's SSH keys (mounted at the app's root, before the v1.1 and v2 apps whose broader
 * routes would take these paths):
 *
 *   GET|POST        /api/v2/project/{vcs}/{org}/{repo}/checkout-key           CircleCI API v2
 *   GET|DELETE      /api/v2/project/{vcs}/{org}/{repo}/checkout-key/{fp}
 *   POST|DELETE     /api/v1.1/project/{vcs}/{org}/{repo}/ssh-key              CircleCI API v1.1
 *   GET             /api/v1.1/project/{vcs}/{org}/{repo}/ssh-key              (Gyre: the list)
 *
 * Private keys go out only through `jobKeysAnswer` (`POST /agent/v1/ssh-keys` in agent.ts), to
 * the node running one of the project's allocations (checked like storage grants), never in any
 * other answer.
 */
import type { Gyre } from "@gyre/core/context";
import { withholdsSecrets } from "@gyre/core/contexts/index";
import type { AllocationRef } from "@gyre/core/protocol/agent";
import { AddSshKeyBody, CheckoutKeyBody, DeleteSshKeyBody, Fingerprint } from "@gyre/core/protocol/api";
import { parseInput } from "@gyre/core/protocol/schema";
import {
  addSshKey,
  checkoutKeyJson,
  createCheckoutKey,
  deleteCheckoutKey,
  deleteSshKey,
  getCheckoutKey,
  type JobKey,
  jobSshKeys,
  listCheckoutKeys,
  listSshKeys,
  sshKeyJson,
} from "@gyre/core/ssh/index";
import { verifyAllocation } from "@gyre/core/storage/index";
import { type Context, Hono } from "hono";
import { allow, projectFor } from "./access.ts";
import { type Env, parseBody, parseQuery } from "./context.ts";

const V2 = "/api/v2/project/:vcs/:org/:repo/checkout-key";
const V1 = "/api/v1.1/project/:vcs/:org/:repo/ssh-key";

const jobKeyJson = (k: JobKey) => ({
  hostname: k.hostname,
  fingerprint: k.fingerprint,
  sha256: k.sha256,
  private_key: k.privateKey,
});

const fingerprintOf = (c: Context<Env>) => parseInput(Fingerprint, c.req.param("fingerprint"), "fingerprint");

export function sshKeyRoutes() {
  const app = new Hono<Env>();

  app.get(V2, allow.project("view"), async (c) => {
    const gyre = c.get("gyre");
    const project = await projectFor(c);
    const keys = await listCheckoutKeys(gyre, project.slug);
    return c.json({ items: keys.map(checkoutKeyJson), next_page_token: null });
  });

  app.post(V2, allow.project("admin"), async (c) => {
    const gyre = c.get("gyre");
    const body = await parseBody(c, CheckoutKeyBody);
    const project = await projectFor(c);
    return c.json(checkoutKeyJson(await createCheckoutKey(gyre, project.slug, body.type)), 201);
  });

  app.get(`${V2}/:fingerprint`, allow.project("view"), async (c) => {
    const gyre = c.get("gyre");
    const fingerprint = fingerprintOf(c);
    const project = await projectFor(c);
    return c.json(checkoutKeyJson(await getCheckoutKey(gyre, project.slug, fingerprint)));
  });

  app.delete(`${V2}/:fingerprint`, allow.project("admin"), async (c) => {
    const gyre = c.get("gyre");
    const fingerprint = fingerprintOf(c);
    const project = await projectFor(c);
    await deleteCheckoutKey(gyre, project.slug, fingerprint);
    return c.json({ message: "ok" });
  });

  app.get(V1, allow.project("view"), async (c) => {
    const gyre = c.get("gyre");
    const project = await projectFor(c);
    return c.json((await listSshKeys(gyre, project.slug)).map(sshKeyJson));
  });

  app.post(V1, allow.project("admin"), async (c) => {
    const gyre = c.get("gyre");
    const body = await parseBody(c, AddSshKeyBody);
    const project = await projectFor(c);
    const key = await addSshKey(gyre, project.slug, {
      hostname: body.hostname,
      privateKey: body.private_key,
    });
    return c.json(sshKeyJson(key), 201);
  });

  // CircleCI takes {fingerprint, hostname} in the body; query parameters work too.
  app.delete(V1, allow.project("admin"), async (c) => {
    const gyre = c.get("gyre");
    const body = await parseBody(c, DeleteSshKeyBody);
    const query = parseQuery(c, DeleteSshKeyBody);
    const project = await projectFor(c);
    await deleteSshKey(
      gyre,
      project.slug,
      body.fingerprint ?? query.fingerprint,
      body.hostname ?? query.hostname,
    );
    return c.json({ message: "ok" });
  });

  return app;
}

/** The keys a running job gets for `add_ssh_keys` and its checkout (`POST /agent/v1/ssh-keys`). */
export async function jobKeysAnswer(gyre: Gyre, allocation: AllocationRef, nodeId: string) {
  const job = await verifyAllocation(gyre, allocation, nodeId);
  const { checkoutKey, keys } = await jobSshKeys(gyre, job.projectSlug, job.checkout.repoUrl);
  // A fork's pull request without forked_pr_secrets: the checkout key only (it checks out), no
  // additional key (those reach the team's servers).
  const withheld = await withholdsSecrets(gyre, job);
  return {
    checkout_key: checkoutKey && jobKeyJson(checkoutKey),
    keys: withheld ? [] : keys.map(jobKeyJson),
  };
}
