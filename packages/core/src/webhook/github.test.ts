import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CORPUS } from "../../../../test/corpus.ts";
import { GyreError } from "../error.ts";
import { Limits, TRUNCATED } from "../protocol/api.ts";
import { headPipelineId } from "./deliveries.ts";
import {
  assertSignature,
  deliverySource,
  parsePullRequest,
  parsePush,
  parseRefEvent,
  pingHookId,
  repositoryFullName,
  verifySignature,
} from "./github.ts";

const corpus = (name: string) => readFileSync(join(CORPUS, "github-webhooks", name));
const payload = (name: string) => JSON.parse(corpus(name).toString("utf8"));
const sign = (secret: string, body: Uint8Array) =>
  `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;

describe("verifySignature", () => {
  const body = corpus("push.branch.json");

  it("accepts the HMAC-SHA256 of the exact bytes", () => {
    expect(verifySignature("s3cret", body, sign("s3cret", body))).toBe(true);
  });

  it.each([
    ["another secret", sign("other", body)],
    ["a changed byte", sign("s3cret", Buffer.concat([body, Buffer.from(" ")]))],
    ["the sha1 header format", `sha1=${createHmac("sha1", "s3cret").update(body).digest("hex")}`],
    ["a truncated digest", sign("s3cret", body).slice(0, 20)],
    ["garbage", "sha256=zz"],
    ["nothing", undefined],
  ])("refuses %s", (_, signature) => {
    expect(verifySignature("s3cret", body, signature)).toBe(false);
  });

  it("says which header is wrong", () => {
    expect(() => assertSignature("s", body, undefined)).toThrow("Missing X-Hub-Signature-256 header.");
    expect(() => assertSignature("s", body, "sha256=00")).toThrow(
      "X-Hub-Signature-256 does not match the payload.",
    );
  });
});

describe("parsePush", () => {
  it("reads a branch push from GitHub's own payload", () => {
    const p = payload("push.branch.json");
    expect(parsePush(p)).toEqual({
      fullName: p.repository.full_name,
      ref: { revision: p.after, branch: "master" },
      deleted: false,
      pusher: p.pusher.name,
      commit: {
        subject: p.head_commit.message.split("\n")[0],
        body: p.head_commit.message.split("\n").slice(1).join("\n").trim(),
      },
    });
  });

  it("reads a new branch (before = zeros) as a build", () => {
    expect(parsePush(payload("push.new-branch.json")).deleted).toBe(false);
  });

  it("reads a deleted tag as a deletion with nothing to build", () => {
    const push = parsePush(payload("push.tag-deleted.json"));
    expect(push).toMatchObject({ ref: { tag: "simple-tag" }, deleted: true });
  });

  it("reads a GitHub Enterprise tag push", () => {
    const p = payload("push.tag.ghes-3.4.json");
    expect(parsePush(p).ref).toEqual({ revision: p.after, tag: p.ref.replace("refs/tags/", "") });
  });

  it.each([
    ["not an object", "push"],
    ["no repository", { ref: "refs/heads/main", after: "a".repeat(40) }],
    ["no ref", { after: "a".repeat(40), repository: { full_name: "a/b" } }],
    ["a notes ref", { ref: "refs/notes/x", after: "a".repeat(40), repository: { full_name: "a/b" } }],
  ])("refuses a payload with %s", (_, body) => {
    expect(() => parsePush(body)).toThrow(GyreError);
  });

  it("finds the repository of every corpus payload", () => {
    for (const name of [
      "ping.json",
      "pull_request.opened.json",
      "create.tag.json",
      "delete.tag.json",
      "push.branch.json",
    ]) {
      expect(repositoryFullName(payload(name))).toMatch(/^[^/]+\/[^/]+$/);
    }
  });
});

describe("parsePullRequest", () => {
  it.each([
    "pull_request.opened.json",
    "pull_request.reopened.json",
    "pull_request.synchronize.json",
    "pull_request.closed.json",
    "pull_request.labeled.json",
    "pull_request.opened.ghes-3.4.json",
  ])("reads %s: the head to build, its page, who opened it", (name) => {
    const p = payload(name);
    expect(parsePullRequest(p)).toEqual({
      fullName: "Codertocat/Hello-World",
      action: p.action,
      number: 2,
      url: p.pull_request.html_url,
      head: {
        sha: p.pull_request.head.sha,
        ref: "changes",
        repoFullName: "Codertocat/Hello-World",
        repoName: "Hello-World",
      },
      base: { ref: "master" },
      author: "Codertocat",
      sender: "Codertocat",
      fork: false,
    });
  });

  it("keeps a GitHub Enterprise pull request's page on its own host", () => {
    expect(parsePullRequest(payload("pull_request.opened.ghes-3.4.json")).url).toBe(
      "https://octocoders.github.io/Codertocat/Hello-World/pull/2",
    );
  });

  it("reads a head in another repository, or in a deleted one, as a fork", () => {
    const p = payload("pull_request.opened.json");
    p.pull_request.head.repo.full_name = "forker/Hello-World";
    p.pull_request.head.repo.name = "Hello-World";
    p.pull_request.user.login = "forker";
    expect(parsePullRequest(p)).toMatchObject({
      fork: true,
      author: "forker",
      head: { repoFullName: "forker/Hello-World", repoName: "Hello-World" },
    });
    p.pull_request.head.repo = null;
    expect(parsePullRequest(p)).toMatchObject({ fork: true, head: { ref: "changes" } });
    expect(parsePullRequest(p).head.repoFullName).toBeUndefined();
  });

  it.each([
    ["no pull_request", (p: Record<string, unknown>) => delete p.pull_request],
    [
      "a head sha that is not one",
      (p: { pull_request: { head: { sha: string } } }) => (p.pull_request.head.sha = "x"),
    ],
    ["an action that is no word", (p: { action: string }) => (p.action = "op ened")],
    [
      "a page that is not a URL",
      (p: { pull_request: { html_url: string } }) => (p.pull_request.html_url = "javascript:1"),
    ],
    [
      "a head branch that is not a ref",
      (p: { pull_request: { head: { ref: string } } }) => (p.pull_request.head.ref = "a..b"),
    ],
  ] as [string, (p: never) => void][])("refuses a payload with %s", (_, change) => {
    const p = payload("pull_request.opened.json");
    change(p as never);
    expect(() => parsePullRequest(p)).toThrow(GyreError);
  });
});

describe("create, delete and ping payloads", () => {
  it("reads the ref of create and delete", () => {
    expect(parseRefEvent(payload("create.tag.json"))).toEqual({
      fullName: "Codertocat/Hello-World",
      refType: "tag",
      ref: "simple-tag",
    });
    expect(parseRefEvent(payload("create.tag.with-organization.json")).refType).toBe("tag");
    expect(parseRefEvent(payload("delete.tag.json"))).toMatchObject({ refType: "tag", ref: "simple-tag" });
    const branch = { ...payload("delete.tag.json"), ref_type: "branch", ref: "feature/x" };
    expect(parseRefEvent(branch)).toMatchObject({ refType: "branch", ref: "feature/x" });
    expect(() => parseRefEvent({ ...branch, ref_type: "repository" })).toThrow(GyreError);
  });

  it("tells a repository's hook from an organization's (whose ping has no repository)", () => {
    expect(deliverySource(payload("ping.json"))).toEqual({ repository: "Octocoders/Hello-World" });
    expect(deliverySource(payload("ping.ghes-3.4.json"))).toEqual({ repository: "Octocoders/Hello-World" });
    expect(deliverySource(payload("ping.with-organization.json"))).toEqual({ organization: "Octocoders" });
    expect(pingHookId(payload("ping.with-organization.json"))).toBe(109948940);
    expect(() => deliverySource({ organization: { login: "a b" } })).toThrow(GyreError);
    expect(() => deliverySource({})).toThrow(GyreError);
  });
});

describe("headPipelineId", () => {
  it("names one pipeline per project, branch or tag, and commit", () => {
    const sha = "b".repeat(40);
    const id = headPipelineId("gh/a/b", { branch: "main", revision: sha });
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(headPipelineId("gh/a/b", { branch: "main", revision: sha })).toBe(id);
    expect(headPipelineId("gh/a/b", { tag: "main", revision: sha })).not.toBe(id);
    expect(headPipelineId("gh/a/c", { branch: "main", revision: sha })).not.toBe(id);
    expect(headPipelineId("gh/a/b", { branch: "main", revision: "c".repeat(40) })).not.toBe(id);
  });
});

describe("what a push keeps", () => {
  type PushJson = { ref: string; after: string; head_commit: { message: string } };
  const push = (change: (p: PushJson) => void) => {
    const p = payload("push.branch.json");
    change(p);
    return p;
  };

  it("bounds the commit message: subject to 1,000 characters, body to 16 KiB, marked where cut", () => {
    const huge = `${"s".repeat(300_000)}\n\n${"b".repeat(300_000)}`;
    const parsed = parsePush(push((p) => (p.head_commit.message = huge)));
    expect(parsed.commit!.subject).toBe(`${"s".repeat(Limits.commitSubject)}${TRUNCATED}`);
    expect(parsed.commit!.body).toBe(`${"b".repeat(Limits.commitBody)}${TRUNCATED}`);
    expect(JSON.stringify(parsed).length).toBeLessThan(20_000);
  });

  it("never cuts a character in two", () => {
    const parsed = parsePush(push((p) => (p.head_commit.message = `a${"😀".repeat(2000)}`)));
    expect(parsed.commit!.subject).toBe(`a${"😀".repeat(499)}${TRUNCATED}`);
  });

  it("refuses a branch or tag name over 255 bytes with 400 naming the limit", () => {
    const long = push((p) => (p.ref = `refs/heads/${"é".repeat(128)}`));
    expect(() => parsePush(long)).toThrow(/at most 255 bytes/);
    expect(parsePush(push((p) => (p.ref = `refs/tags/${"v".repeat(255)}`))).ref.tag).toHaveLength(255);
    expect(() => parsePush(push((p) => (p.ref = "refs/heads/a b")))).toThrow(GyreError);
  });

  it("refuses a repository full_name that is not owner/name of bounded length, before any lookup", () => {
    for (const fullName of [
      "a".repeat(3000),
      `${"a".repeat(150)}/${"b".repeat(150)}`,
      "a/b/c",
      "a",
      "a b/c",
      5,
    ]) {
      const error = (() => {
        try {
          repositoryFullName({ repository: { full_name: fullName } });
        } catch (e) {
          return e as GyreError;
        }
      })();
      expect(error, String(fullName)).toBeInstanceOf(GyreError);
      expect(error!.code).toBe("bad_request");
      expect(error!.message.length).toBeLessThan(300);
    }
  });

  it("refuses an `after` that is not a commit SHA", () => {
    expect(() => parsePush(push((p) => (p.after = "x".repeat(100_000))))).toThrow(/after: a full commit SHA/);
  });
});

describe("the parser on garbage (property tests)", () => {
  const SEED = 4_217;
  const base = payload("push.branch.json");
  const only400 = (f: () => unknown) => {
    try {
      f();
    } catch (error) {
      expect(error).toBeInstanceOf(GyreError);
      expect((error as GyreError).code).toBe("bad_request");
    }
  };

  it("arbitrary JSON never throws anything but a 400", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        only400(() => repositoryFullName(value));
        only400(() => parsePush(value));
        only400(() => parsePullRequest(value));
        only400(() => parseRefEvent(value));
        only400(() => deliverySource(value));
      }),
      { seed: SEED, numRuns: 3000 },
    );
  });

  it("a real push with any field replaced by anything never throws anything but a 400", () => {
    const paths: string[][] = [];
    const walk = (v: unknown, path: string[]) => {
      paths.push(path);
      if (typeof v === "object" && v !== null && path.length < 3)
        for (const [k, child] of Object.entries(v)) walk(child, [...path, k]);
    };
    walk(base, []);
    const hostile = fc.oneof(
      fc.jsonValue(),
      fc.constantFrom(null, -1, 2 ** 60, 1e308, "", "\u0000", "refs/heads/", "refs/tags/..", "0".repeat(40)),
      fc.string({ unit: "binary", maxLength: 300 }),
      fc.constant("x".repeat(70_000)),
    );
    fc.assert(
      fc.property(fc.constantFrom(...paths), hostile, fc.boolean(), (path, value, remove) => {
        const p = structuredClone(base);
        let at = p;
        for (const k of path.slice(0, -1)) at = at[k];
        const last = path.at(-1);
        if (last === undefined) return;
        if (remove) delete at[last];
        else at[last] = value;
        only400(() => parsePush(p));
        only400(() => repositoryFullName(p));
      }),
      { seed: SEED, numRuns: 3000 },
    );
  });

  it("a real pull request with any field replaced by anything never throws anything but a 400", () => {
    const pr = payload("pull_request.synchronize.json");
    const paths: string[][] = [];
    const walk = (v: unknown, path: string[]) => {
      paths.push(path);
      if (typeof v === "object" && v !== null && path.length < 4)
        for (const [k, child] of Object.entries(v)) walk(child, [...path, k]);
    };
    walk(pr, []);
    const hostile = fc.oneof(
      fc.jsonValue(),
      fc.constantFrom(null, -1, 0, 2 ** 60, "", "\u0000", "refs/heads/", "x".repeat(70_000)),
      fc.string({ unit: "binary", maxLength: 300 }),
    );
    fc.assert(
      fc.property(fc.constantFrom(...paths), hostile, fc.boolean(), (path, value, remove) => {
        const p = structuredClone(pr);
        let at = p;
        for (const k of path.slice(0, -1)) at = at[k];
        const last = path.at(-1);
        if (last === undefined) return;
        if (remove) delete at[last];
        else at[last] = value;
        only400(() => parsePullRequest(p));
      }),
      { seed: SEED, numRuns: 2000 },
    );
  });

  it("a prototype key in the payload is data, never the object's prototype", () => {
    const p = JSON.parse(
      `{"__proto__": {"repository": {"full_name": "evil/repo"}}, "ref": "refs/heads/main", "after": "${"a".repeat(40)}"}`,
    );
    expect(() => parsePush(p)).toThrow(GyreError);
  });
});
