import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CORPUS } from "../../../../test/corpus.ts";
import { GyreError } from "../error.ts";
import { assertSignature, parsePush, repositoryFullName, verifySignature } from "./github.ts";

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
