/**
 * GitHub and GitHub Enterprise, as a project's repository host:
 * - statuses.ts: each workflow's commit status (`ci/circleci: <workflow>`), once per change;
 * - repository.ts: the webhook and deploy key installed on the repository, and its branch heads;
 * - resync.ts: pipelines for the branch heads GitHub's deliveries missed;
 * - client.ts: the REST client (Octokit: throttling, retries; undici: proxies, CA bundles),
 *   loaded only when a call is made; errors.ts: its failures as Gyre says them;
 * - stand-in.ts: a local GitHub for tests.
 * The deliveries GitHub sends are webhook/'s.
 */
export * from "./errors.ts";
export * from "./repository.ts";
export * from "./resync.ts";
export * from "./statuses.ts";
