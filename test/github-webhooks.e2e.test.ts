/**
 * GitHub's deliveries end to end on the local stack: every payload of the corpus (github.com and
 * GitHub Enterprise Server 3.4) with a wrong, a missing and a correct signature; pull requests
 * built at their head with CircleCI's variables (CIRCLE_PULL_REQUEST(S), and CIRCLE_PR_* for a
 * fork); forks built only per `build_fork_prs` and without secrets unless `forked_pr_secrets`;
 * `only_build_prs` going by the open pull requests the deliveries recorded. The corpus is read,
 * never edited: payloads are changed in memory to point at real commits.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../packages/cli/src/local/runtime.ts";
import { CORPUS } from "./corpus.ts";
import { api, gitRepo, outputsByName, sign, tempDir, waitFor } from "./support.ts";

let runtime: LocalRuntime;
let client: ReturnType<typeof api>;
/** Webhook secrets by project slug. */
const secrets: Record<string, string> = {};

const CODERTOCAT = "gh/Codertocat/Hello-World";
const OCTOCODERS = "gh/Octocoders/Hello-World";
const SECRET_VALUE = "hunter2-project-secret";

const CONFIG = `version: 2.1
jobs:
  show:
    machine: true
    steps:
      - add_ssh_keys
      - run:
          name: Show
          command: |
            env | grep -E '^CIRCLE_(BRANCH|PULL_REQUEST|PULL_REQUESTS|PR_NUMBER|PR_USERNAME|PR_REPONAME)=' | sort
            [ -n "$PROJECT_SECRET" ] && echo "secret: present" || echo "secret: absent"
            echo "additional keys: $(ls ~/.ssh 2>/dev/null | grep -c '^id_rsa_')"
workflows:
  main:
    jobs: [show]
`;

let repo: ReturnType<typeof gitRepo>;
const git = (...args: string[]) =>
  execFileSync("git", ["-c", "user.name=Test", "-c", "user.email=test@localhost", ...args], {
    cwd: repo.path,
  })
    .toString()
    .trim();

/** A commit on `branch` (created from master when new); its SHA. */
function commitOn(branch: string, file: string): string {
  git("checkout", "-q", "-B", branch, "master");
  const sha = repo.commit({ [file]: `${file}\n` });
  git("checkout", "-q", "master");
  return sha;
}

/** A commit that only a pull request's ref holds, as GitHub keeps a fork's head. */
function forkHead(number: number, file: string): string {
  const sha = commitOn(`tmp-fork-${number}`, file);
  git("update-ref", `refs/pull/${number}/head`, sha);
  git("branch", "-q", "-D", `tmp-fork-${number}`);
  return sha;
}

const corpus = (name: string) => readFileSync(join(CORPUS, "github-webhooks", name));
const json = (name: string) => JSON.parse(corpus(name).toString("utf8"));

let sequence = 0;
async function deliver(event: string, body: Uint8Array | string, signature: string | undefined) {
  const response = await fetch(`${runtime.url}/webhooks/github`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-github-event": event,
      "x-github-delivery": `gh-${process.pid}-${++sequence}`,
      ...(signature ? { "x-hub-signature-256": signature } : {}),
    },
    body: typeof body === "string" ? body : Buffer.from(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const signed = (slug: string, event: string, body: Uint8Array | string) =>
  deliver(event, body, sign(secrets[slug]!, Buffer.from(body).toString("utf8")));

/** Gyre's own routes that the test api() has no verb for. */
async function call(method: string, path: string, body?: unknown) {
  const response = await fetch(`${runtime.url}${path}`, {
    method,
    headers: { "circle-token": runtime.adminToken, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const settings = (slug: string, change: Record<string, boolean>) =>
  call("PATCH", `/api/gyre/projects/${slug}`, { settings: change });

/** The `Show` step's output of the pipeline's job, once its workflow ended. */
async function shown(pipelineId: string): Promise<string> {
  const job = await waitFor("the job to end", async () => {
    const [workflow] = (await client.get(`/api/v2/pipeline/${pipelineId}/workflow`)).body.items ?? [];
    if (!workflow || workflow.status === "running") return undefined;
    const [only] = (await client.get(`/api/v2/workflow/${workflow.id}/job`)).body.items!;
    return only && ["success", "failed"].includes(only.status as string) ? only : undefined;
  });
  return (await outputsByName(client, CODERTOCAT, job.job_number as number)).Show!;
}

const pipelineExists = (id: string) =>
  waitFor(`pipeline ${id}`, async () => {
    const found = await client.get(`/api/v2/pipeline/${id}`);
    return found.status === 200 ? found.body : undefined;
  });

beforeAll(async () => {
  runtime = await startLocalRuntime({ dataDir: tempDir("github-webhooks"), port: 0 });
  client = api(runtime.url, runtime.adminToken);
  repo = gitRepo({ ".circleci/config.yml": CONFIG });
  git("branch", "-m", "main", "master");
  for (const slug of [CODERTOCAT, OCTOCODERS]) {
    const added = await client.post("/api/gyre/projects", {
      repo_url: repo.path,
      slug,
      default_branch: "master",
    });
    expect(added.status).toBe(201);
    secrets[slug] = added.body.webhook_secret as string;
  }
  const envvar = await client.post(`/api/v2/project/${CODERTOCAT}/envvar`, {
    name: "PROJECT_SECRET",
    value: SECRET_VALUE,
  });
  expect(envvar.status).toBe(201);
  // An additional SSH key (add_ssh_keys installs it): a secret too, withheld from forks.
  const keyFile = join(tempDir("fork-keys"), "deploy");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", keyFile]);
  const key = await client.post(`/api/v1.1/project/${CODERTOCAT}/ssh-key`, {
    hostname: "deploy.example.com",
    private_key: readFileSync(keyFile, "utf8"),
  });
  expect(key.status).toBe(201);
});

afterAll(async () => {
  await runtime?.stop();
});

/**
 * Each corpus payload: its event, the project whose secret signs it, what Gyre answers.
 * In this order: a head delivered a second time (reopened, synchronize, the same push again)
 * has its pipeline already.
 */
const CORPUS_CASES: {
  file: string;
  event: string;
  slug: string;
  status: number;
  message: RegExp;
  samePipelineAs?: string;
}[] = [
  { file: "ping.json", event: "ping", slug: OCTOCODERS, status: 200, message: /^pong$/ },
  { file: "ping.ghes-3.4.json", event: "ping", slug: OCTOCODERS, status: 200, message: /^pong$/ },
  { file: "ping.with-organization.json", event: "ping", slug: OCTOCODERS, status: 200, message: /^pong$/ },
  { file: "push.branch.json", event: "push", slug: CODERTOCAT, status: 202, message: /^Accepted\.$/ },
  {
    file: "push.new-branch.json",
    event: "push",
    slug: CODERTOCAT,
    status: 200,
    message: /has a pipeline already/,
    samePipelineAs: "push.branch.json",
  },
  { file: "push.tag.ghes-3.4.json", event: "push", slug: CODERTOCAT, status: 202, message: /^Accepted\.$/ },
  {
    file: "push.tag-deleted.json",
    event: "push",
    slug: CODERTOCAT,
    status: 202,
    message: /^A deleted branch or tag has nothing to build\.$/,
  },
  {
    file: "pull_request.opened.json",
    event: "pull_request",
    slug: CODERTOCAT,
    status: 202,
    message: /^Accepted\.$/,
  },
  {
    file: "pull_request.reopened.json",
    event: "pull_request",
    slug: CODERTOCAT,
    status: 200,
    message: /has a pipeline already/,
    samePipelineAs: "pull_request.opened.json",
  },
  {
    file: "pull_request.synchronize.json",
    event: "pull_request",
    slug: CODERTOCAT,
    status: 200,
    message: /has a pipeline already/,
    samePipelineAs: "pull_request.opened.json",
  },
  {
    file: "pull_request.opened.ghes-3.4.json",
    event: "pull_request",
    slug: CODERTOCAT,
    status: 202,
    message: /^Accepted\.$/,
  },
  {
    file: "pull_request.labeled.json",
    event: "pull_request",
    slug: CODERTOCAT,
    status: 202,
    message: /^Pull request #2 was labeled: nothing to build\.$/,
  },
  {
    file: "pull_request.closed.json",
    event: "pull_request",
    slug: CODERTOCAT,
    status: 202,
    message: /^Pull request #2 was closed: nothing to build\.$/,
  },
  {
    file: "create.tag.json",
    event: "create",
    slug: CODERTOCAT,
    status: 202,
    message: /^Created tag simple-tag: its push event builds it\.$/,
  },
  {
    file: "create.tag.with-organization.json",
    event: "create",
    slug: CODERTOCAT,
    status: 202,
    message: /^Created tag simple-tag: its push event builds it\.$/,
  },
  {
    file: "delete.tag.json",
    event: "delete",
    slug: CODERTOCAT,
    status: 202,
    message: /^Deleted tag simple-tag: nothing to build\.$/,
  },
];

describe("every corpus payload", () => {
  it("covers the whole corpus", () => {
    expect(CORPUS_CASES.map((c) => c.file).sort()).toEqual(
      readdirSync(join(CORPUS, "github-webhooks")).sort(),
    );
  });

  it.each(CORPUS_CASES)("$file: refused with a wrong or a missing signature, storing nothing", async (c) => {
    const body = corpus(c.file);
    const wrong = await deliver(c.event, body, sign("not-the-secret", body.toString("utf8")));
    expect(wrong).toEqual({
      status: 401,
      body: {
        message:
          c.file.includes("with-organization.json") && c.event === "ping"
            ? "X-Hub-Signature-256 does not match the payload under any secret of the organization."
            : "X-Hub-Signature-256 does not match the payload.",
      },
    });
    const tampered = await deliver(
      c.event,
      Buffer.concat([body, Buffer.from(" ")]),
      sign(secrets[c.slug]!, body.toString("utf8")),
    );
    expect(tampered.status).toBe(401);
    expect(await deliver(c.event, body, undefined)).toEqual({
      status: 401,
      body: { message: "Missing X-Hub-Signature-256 header." },
    });
  });

  const pipelineOf: Record<string, string> = {};
  it.each(CORPUS_CASES)("$file with its signature: $status", async (c) => {
    if (c.samePipelineAs) await pipelineExists(pipelineOf[c.samePipelineAs]!);
    const answer = await signed(c.slug, c.event, corpus(c.file));
    expect(answer.status).toBe(c.status);
    expect(answer.body.message).toMatch(c.message);
    if (answer.body.pipeline_id) pipelineOf[c.file] = answer.body.pipeline_id as string;
    if (c.samePipelineAs) expect(answer.body.pipeline_id).toBe(pipelineOf[c.samePipelineAs]);
    if (c.event === "ping") {
      expect(answer.body.project_slug).toBe(OCTOCODERS);
      expect(answer.body.hook_id).toBe(json(c.file).hook_id);
    }
  });

  it("made the pipelines GitHub's payloads name: a branch, a tag, a pull request's head", async () => {
    const push = await pipelineExists(pipelineOf["push.branch.json"]!);
    expect(push).toMatchObject({
      vcs: { branch: "master", revision: json("push.branch.json").after },
      trigger: { type: "webhook", actor: { login: "Codertocat" } },
    });
    const tag = await pipelineExists(pipelineOf["push.tag.ghes-3.4.json"]!);
    expect(tag).toMatchObject({ vcs: { tag: "simple-tag", revision: json("push.tag.ghes-3.4.json").after } });
    const pr = await pipelineExists(pipelineOf["pull_request.opened.json"]!);
    expect(pr).toMatchObject({
      vcs: { branch: "changes", revision: json("pull_request.opened.json").pull_request.head.sha },
    });
    // Those commits are not in the local repository: the pipelines say so, nothing crashed.
    for (const p of [push, tag, pr]) {
      const settled = await waitFor("the intake", async () => {
        const read = (await client.get(`/api/v2/pipeline/${p.id}`)).body;
        return read.state === "pending" ? undefined : read;
      });
      expect(settled.state).toBe("errored");
    }
  });

  it("answers other events with 202 and 404 for a repository with no project", async () => {
    const body = JSON.stringify({ ...json("create.tag.json"), action: "created" });
    expect(await signed(CODERTOCAT, "issues", body)).toEqual({
      status: 202,
      body: { message: 'Event "issues" does not start pipelines.' },
    });
    const elsewhere = JSON.stringify({ ...json("ping.json"), repository: { full_name: "nobody/nothing" } });
    expect((await deliver("ping", elsewhere, sign("x", elsewhere))).status).toBe(404);
  });
});

describe("pull requests", () => {
  /** pull_request.opened.json as pull request `number` with its head at `sha` on `branch`. */
  const pullRequest = (
    number: number,
    sha: string,
    branch: string,
    fork?: { owner: string; repo: string },
  ) => {
    const p = json("pull_request.opened.json");
    p.number = number;
    p.pull_request.number = number;
    p.pull_request.html_url = `https://github.com/Codertocat/Hello-World/pull/${number}`;
    p.pull_request.head.sha = sha;
    p.pull_request.head.ref = branch;
    if (fork) {
      p.pull_request.head.repo.full_name = `${fork.owner}/${fork.repo}`;
      p.pull_request.head.repo.name = fork.repo;
      p.pull_request.user.login = fork.owner;
      p.sender.login = fork.owner;
    }
    return p;
  };
  const send = (p: unknown, action = "opened") =>
    signed(CODERTOCAT, "pull_request", JSON.stringify({ ...(p as object), action }));

  it("builds a pull request's head with CIRCLE_PULL_REQUEST(S) and the project's variables", async () => {
    const sha = commitOn("feature-3", "three.txt");
    const answer = await send(pullRequest(3, sha, "feature-3"));
    expect(answer.status).toBe(202);
    const output = await shown(answer.body.pipeline_id as string);
    expect(output).toContain("CIRCLE_BRANCH=feature-3\n");
    expect(output).toContain("CIRCLE_PULL_REQUEST=https://github.com/Codertocat/Hello-World/pull/3\n");
    expect(output).toContain("CIRCLE_PULL_REQUESTS=https://github.com/Codertocat/Hello-World/pull/3\n");
    // Set by CircleCI only for forks.
    expect(output).not.toContain("CIRCLE_PR_");
    expect(output).toContain("secret: present");
  });

  it("gives a push to a branch with open pull requests all of them, and builds a head once", async () => {
    const sha = commitOn("feature-3", "three-more.txt");
    const opened = await send(pullRequest(5, sha, "feature-3"));
    await pipelineExists(opened.body.pipeline_id as string);
    const push = json("push.branch.json");
    push.ref = "refs/heads/feature-3";
    push.after = sha;
    // The pull request's head and this push are one head: one pipeline.
    const answer = await signed(CODERTOCAT, "push", JSON.stringify(push));
    expect(answer.status).toBe(200);
    expect(answer.body.pipeline_id).toBe(opened.body.pipeline_id);
    const output = await shown(answer.body.pipeline_id as string);
    expect(output).toMatch(
      /CIRCLE_PULL_REQUESTS=https:\/\/github\.com\/Codertocat\/Hello-World\/pull\/5,https:\/\/github\.com\/Codertocat\/Hello-World\/pull\/3\n/,
    );
  });

  it("builds a fork's pull request only with build_fork_prs, as pull/<n>, and without secrets unless forked_pr_secrets", async () => {
    const fork = { owner: "forker", repo: "Hello-World-fork" };
    const first = forkHead(4, "fork-one.txt");
    const refused = await send(pullRequest(4, first, "patch-1", fork));
    expect(refused).toEqual({
      status: 202,
      body: {
        message: `Pull request #4 is from a fork (forker/Hello-World-fork), and project ${CODERTOCAT} does not build forked pull requests (build_fork_prs): nothing to build.`,
      },
    });

    expect((await settings(CODERTOCAT, { build_fork_prs: true })).status).toBe(200);
    const built = await send(pullRequest(4, first, "patch-1", fork), "reopened");
    expect(built.status).toBe(202);
    const output = await shown(built.body.pipeline_id as string);
    expect(output).toContain("CIRCLE_BRANCH=pull/4\n");
    expect(output).toContain("CIRCLE_PULL_REQUEST=https://github.com/Codertocat/Hello-World/pull/4\n");
    expect(output).toContain("CIRCLE_PR_NUMBER=4\n");
    expect(output).toContain("CIRCLE_PR_USERNAME=forker\n");
    expect(output).toContain("CIRCLE_PR_REPONAME=Hello-World-fork\n");
    expect(output).toContain("secret: absent");
    expect(output).toContain("additional keys: 0\n");

    expect((await settings(CODERTOCAT, { forked_pr_secrets: true })).status).toBe(200);
    const second = forkHead(4, "fork-two.txt");
    const synced = await send(pullRequest(4, second, "patch-1", fork), "synchronize");
    expect(synced.status).toBe(202);
    const trusted = await shown(synced.body.pipeline_id as string);
    expect(trusted).toContain("secret: present");
    expect(trusted).toContain("additional keys: 1\n");
    await settings(CODERTOCAT, { build_fork_prs: false, forked_pr_secrets: false });
  });

  it("with only_build_prs, builds a branch's push only while a pull request is open for it", async () => {
    expect((await settings(CODERTOCAT, { only_build_prs: true })).body.settings).toMatchObject({
      only_build_prs: true,
    });
    const push = (branch: string, sha: string) => {
      const p = json("push.branch.json");
      p.ref = `refs/heads/${branch}`;
      p.after = sha;
      return signed(CODERTOCAT, "push", JSON.stringify(p));
    };
    const lonely = commitOn("lonely", "lonely.txt");
    expect(await push("lonely", lonely)).toEqual({
      status: 202,
      body: {
        message: `Branch lonely has no open pull request, and project ${CODERTOCAT} builds only pull requests (only_build_prs): nothing to build.`,
      },
    });
    // The default branch always builds.
    const master = repo.commit({ "master.txt": "m\n" });
    expect((await push("master", master)).status).toBe(202);
    // A pull request opened for it: its next push builds.
    await send(pullRequest(6, lonely, "lonely"));
    const next = commitOn("lonely", "lonely-2.txt");
    expect((await push("lonely", next)).status).toBe(202);
    // Closed: forgotten, so the push after is skipped again.
    expect((await send(pullRequest(6, next, "lonely"), "closed")).status).toBe(202);
    const third = commitOn("lonely", "lonely-3.txt");
    expect((await push("lonely", third)).body.message).toMatch(/only_build_prs/);
    // A deleted branch forgets its pull requests (GitHub closes them, too).
    await send(pullRequest(7, third, "lonely"));
    const deleted = await signed(
      CODERTOCAT,
      "delete",
      JSON.stringify({ ...json("delete.tag.json"), ref: "lonely", ref_type: "branch" }),
    );
    expect(deleted).toEqual({
      status: 202,
      body: { message: "Deleted branch lonely: nothing to build; 1 open pull request(s) of it forgotten." },
    });
    await settings(CODERTOCAT, { only_build_prs: false });
  });
});

describe("skipping and auto-cancel", () => {
  const SLOW = CONFIG.replace("    jobs: [show]", "    jobs: [wait]").replace(
    "jobs:\n  show:",
    "jobs:\n  wait:\n    machine: true\n    steps:\n      - run: sleep 60\n  show:",
  );
  /** A commit of `files` on an existing `branch`; its SHA. */
  const commitFiles = (branch: string, files: Record<string, string>) => {
    git("checkout", "-q", branch);
    const sha = repo.commit(files);
    git("checkout", "-q", "master");
    return sha;
  };
  const pushOf = (branch: string, sha: string, message = "A change") => {
    const push = json("push.branch.json");
    push.ref = `refs/heads/${branch}`;
    push.after = sha;
    push.head_commit = { ...push.head_commit, id: sha, message };
    return signed(CODERTOCAT, "push", JSON.stringify(push));
  };

  it("builds nothing for a push whose head commit says [ci skip] or [skip ci]", async () => {
    const sha = commitOn("skipped", "skipped.txt");
    expect(await pushOf("skipped", sha, "Fix a typo [ci skip]")).toEqual({
      status: 202,
      body: { message: "The head commit's message says [ci skip]: nothing to build." },
    });
    expect(await pushOf("skipped", sha, "Docs only\n\nNo build needed. [SKIP CI]")).toEqual({
      status: 202,
      body: { message: "The head commit's message says [skip ci]: nothing to build." },
    });
    expect((await pushOf("skipped", sha, "Now build it")).status).toBe(202);
  });

  it("with autocancel_builds, a push cancels its branch's older workflows still running, by the system", async () => {
    expect((await settings(CODERTOCAT, { autocancel_builds: true })).status).toBe(200);
    git("branch", "busy", "master");
    const first = commitFiles("busy", { ".circleci/config.yml": SLOW });
    const a = await pushOf("busy", first);
    expect(a.status).toBe(202);
    const running = await waitFor("the first push's job to run", async () => {
      const [w] = (await client.get(`/api/v2/pipeline/${a.body.pipeline_id}/workflow`)).body.items ?? [];
      if (!w) return undefined;
      const [job] = (await client.get(`/api/v2/workflow/${w.id}/job`)).body.items!;
      return job?.status === "running" ? w : undefined;
    });
    const second = commitFiles("busy", { ".circleci/config.yml": CONFIG });
    const b = await pushOf("busy", second);
    expect(b.status).toBe(202);
    const canceled = await waitFor("the first workflow to be canceled", async () => {
      const w = (await client.get(`/api/v2/workflow/${running.id}`)).body;
      return w.status === "canceled" ? w : undefined;
    });
    expect(canceled.canceled_by).toBe("00000000-0000-0000-0000-000000000000");
    await shown(b.body.pipeline_id as string);
    const [newer] = (await client.get(`/api/v2/pipeline/${b.body.pipeline_id}/workflow`)).body.items!;
    expect(newer!.status).toBe("success");
    await settings(CODERTOCAT, { autocancel_builds: false });
  });

  it("reads and changes the same settings in CircleCI's shapes: v2's advanced and v1.1's feature_flags", async () => {
    const v2 = `/api/v2/project/${CODERTOCAT}/settings`;
    const v1 = `/api/v1.1/project/${CODERTOCAT}/settings`;
    const defaults = {
      build_fork_prs: false,
      forks_receive_secret_env_vars: false,
      build_prs_only: false,
      set_github_status: true,
      autocancel_builds: false,
    };
    expect(await call("GET", v2)).toEqual({ status: 200, body: { advanced: defaults } });
    expect(await call("PATCH", v2, { advanced: { autocancel_builds: true } })).toEqual({
      status: 200,
      body: { advanced: { ...defaults, autocancel_builds: true } },
    });
    expect(
      await call("PUT", v1, { feature_flags: { "autocancel-builds": false, "build-prs-only": true } }),
    ).toEqual({
      status: 200,
      body: {
        feature_flags: {
          "build-fork-prs": false,
          "forks-receive-secret-env-vars": false,
          "build-prs-only": true,
          "set-github-status": true,
          "autocancel-builds": false,
        },
      },
    });
    expect((await call("GET", `/api/gyre/projects/${CODERTOCAT}`)).body.settings).toMatchObject({
      only_build_prs: true,
      autocancel_builds: false,
    });
    const bad = await call("PATCH", v2, { advanced: { oss: true } });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain("oss");
    expect((await call("PATCH", v2, { advanced: { build_prs_only: "yes" } })).status).toBe(400);
    await settings(CODERTOCAT, { only_build_prs: false });
    expect((await call("GET", v2)).body).toEqual({ advanced: defaults });
  });
});
