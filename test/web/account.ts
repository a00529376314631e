/**
 * The user's own page (`/settings/user`) in the browser, each change checked through the API:
 * reached from the top bar's user name, the profile as the session says; a personal token made
 * in the page, shown once, that the API then accepts as `Circle-Token`, and refused once revoked
 * in the page (from the keyboard, after the confirm step); an SSH key from ssh-keygen added and
 * listed by the fingerprint ssh-keygen prints, then deleted; a bad key refused with the API's
 * own message; axe-core on the page, and its screenshot.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { issueToken } from "@gyre/core/auth/tokens";
import { createUser } from "@gyre/core/auth/users";
import type { BrowserContext, Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { axeCheck, newPage, screenshot, signIn } from "../support/browser.ts";
import { tempDir } from "../support.ts";
import { web } from "./context.ts";

const LOGIN = "web-account";
const PAGE = "/settings/user";

/** A call of the API as a CircleCI client makes it: the token in a `Circle-Token` header. */
async function call(path: string, token: string, init: { method?: string; body?: unknown } = {}) {
  const response = await fetch(`${web().url}${path}`, {
    method: init.method ?? "GET",
    headers: {
      "circle-token": token,
      ...(init.body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : undefined) as Record<string, unknown> };
}

const section = (page: Page, name: string) => page.getByRole("region", { name, exact: true });
/** A section's own live status line (a copy field in it has one too). */
const outcome = (region: Locator) => region.locator(":scope > [role=status]");

describe("the account page", () => {
  let context: BrowserContext;
  let page: Page;
  /** The token the browser signed in with (the user's own, as any other). */
  let signInToken: string;

  beforeAll(async () => {
    const gyre = web().runtime.gyre;
    const user = await createUser(gyre, { login: LOGIN, name: "Web Account" });
    ({ token: signInToken } = await issueToken(gyre, user.id, "browser sign-in"));
    ({ context, page } = await newPage(web().browser, web().url));
    await signIn(page, signInToken, "/");
  }, 60_000);

  afterAll(async () => {
    await context?.close();
  });

  it("opens from the user name in the top bar and shows the signed-in user", async () => {
    await page.getByRole("banner").getByRole("link", { name: LOGIN }).click();
    await page.waitForURL(new RegExp(`${PAGE}$`));
    await page.getByRole("heading", { level: 1, name: "Your account" }).waitFor();
    await expect.poll(() => page.title()).toBe("Your account · Gyre");
    const profile = section(page, "Profile");
    const facts = await profile.locator("dl").textContent();
    expect(facts).toContain(LOGIN);
    expect(facts).toContain("Web Account");
    expect(facts).toContain("User");
    // The token it signed in with is listed by its label, never its value.
    await section(page, "Personal API tokens")
      .getByRole("table", { name: "Your API tokens" })
      .getByRole("row", { name: /browser sign-in/ })
      .waitFor();
    expect(await page.content()).not.toContain(signInToken);
  });

  it("creates a token shown once that the API accepts as Circle-Token, and revokes it: then refused", async () => {
    await page.goto(PAGE);
    const tokens = section(page, "Personal API tokens");
    const form = page.getByRole("form", { name: "Create a token" });
    await form.getByLabel("Label").fill("cli from the browser");
    // Made from the keyboard: Enter in the field submits.
    await form.getByLabel("Label").press("Enter");

    const shown = page.getByRole("region", { name: "Your new token cli from the browser" });
    await shown.waitFor();
    await expect.poll(() => shown.evaluate((el) => el === document.activeElement)).toBe(true);
    expect(await shown.textContent()).toContain("you will not see it again");
    const token = await shown.getByLabel("Token cli from the browser").inputValue();
    expect(token).toMatch(/^gyre_[0-9a-f]{48}$/);
    await shown.getByRole("button", { name: "Copy Token cli from the browser" }).waitFor();
    await expect
      .poll(() => outcome(tokens).textContent())
      .toBe("Created the token cli from the browser: copy it now, it is shown only this once.");
    const table = tokens.getByRole("table", { name: "Your API tokens" });
    const row = table.getByRole("row", { name: /cli from the browser/ });
    await row.waitFor();
    expect(await row.textContent()).toContain("never");
    await screenshot(page, "account-new-token");
    expect(await axeCheck(page)).toEqual([]);

    // It works: the API answers its user.
    const me = await call("/api/v2/me", token);
    expect(me.status).toBe(200);
    expect(me.body.login).toBe(LOGIN);
    // The API lists it as a personal token of the user; the page, read again, no longer shows its value.
    const listed = (await call("/api/gyre/me/tokens", signInToken)).body.items as Record<string, unknown>[];
    expect(listed.find((t) => t.label === "cli from the browser")).toMatchObject({
      kind: "personal",
      last_used_at: expect.any(String),
    });
    await page.reload();
    await row.waitFor();
    expect(await row.textContent()).not.toContain("never");
    expect(await page.content()).not.toContain(token);

    // Revoked from the keyboard, after the confirm step (which has the focus).
    const revoke = page.getByRole("button", { name: "Revoke the token cli from the browser" });
    await revoke.focus();
    await page.keyboard.press("Enter");
    const yes = page.getByRole("button", { name: "Yes, revoke the token cli from the browser" });
    await expect.poll(() => yes.evaluate((el) => el === document.activeElement)).toBe(true);
    expect((await call("/api/v2/me", token)).status).toBe(200);
    await page.keyboard.press("Enter");
    await row.waitFor({ state: "detached" });
    await expect.poll(() => outcome(tokens).textContent()).toBe("Token cli from the browser revoked.");
    await expect.poll(async () => (await call("/api/v2/me", token)).status, { timeout: 5000 }).toBe(401);
    // The token this page signed in with is untouched.
    await table.getByRole("row", { name: /browser sign-in/ }).waitFor();
  });

  it("adds an SSH key from ssh-keygen, listed by the fingerprint ssh-keygen prints, and deletes it", async () => {
    const file = join(tempDir("account-key"), "id_ed25519");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "web-account@laptop", "-f", file]);
    const publicKey = readFileSync(`${file}.pub`, "utf8");
    const fingerprint = execFileSync("ssh-keygen", ["-l", "-E", "sha256", "-f", `${file}.pub`], {
      encoding: "utf8",
    }).split(" ")[1]!;
    expect(fingerprint).toMatch(/^SHA256:/);

    await page.goto(PAGE);
    const keys = section(page, "SSH keys");
    const form = page.getByRole("form", { name: "Add an SSH key" });
    await form.getByLabel("Public key").fill(publicKey);
    await form.getByRole("button", { name: "Add SSH key" }).click();
    const table = keys.getByRole("table", { name: "Your SSH keys" });
    const row = table.getByRole("row", { name: /web-account@laptop/ });
    await row.waitFor();
    expect(await row.textContent()).toContain(fingerprint);
    await expect.poll(() => outcome(keys).textContent()).toBe(`Added the key ${fingerprint}.`);
    expect(await form.getByLabel("Public key").inputValue()).toBe("");
    const listed = (await call("/api/gyre/me/ssh-keys", signInToken)).body.items as Record<string, unknown>[];
    expect(listed).toMatchObject([{ fingerprint, title: "web-account@laptop" }]);

    await keys.getByRole("button", { name: `Delete the key ${fingerprint}` }).click();
    // Asked first: nothing is gone yet.
    expect((await call("/api/gyre/me/ssh-keys", signInToken)).body.items).toHaveLength(1);
    await keys.getByRole("button", { name: `Yes, delete the key ${fingerprint}` }).click();
    await row.waitFor({ state: "detached" });
    await expect.poll(() => outcome(keys).textContent()).toBe(`Deleted the key ${fingerprint}.`);
    await keys.getByText("No SSH keys yet.").waitFor();
    expect((await call("/api/gyre/me/ssh-keys", signInToken)).body.items).toEqual([]);
  });

  it("shows the API's own message for a key that is not one", async () => {
    const bad = "ssh-dss AAAAB3NzaC1kc3MAAACBAP not-a-key";
    const refused = await call("/api/gyre/me/ssh-keys", signInToken, {
      method: "POST",
      body: { public_key: bad },
    });
    expect(refused.status).toBe(400);
    const message = refused.body.message as string;
    expect(message).toContain("Invalid public_key");

    await page.goto(PAGE);
    const keys = section(page, "SSH keys");
    const form = page.getByRole("form", { name: "Add an SSH key" });
    await form.getByLabel("Public key").fill(bad);
    await form.getByRole("button", { name: "Add SSH key" }).click();
    await expect.poll(() => keys.getByRole("alert").textContent()).toBe(message);
    // What was typed stays, to be corrected; nothing was added.
    expect(await form.getByLabel("Public key").inputValue()).toBe(bad);
    expect((await call("/api/gyre/me/ssh-keys", signInToken)).body.items).toEqual([]);

    // A private key pasted by mistake is never sent: the page says so, no request leaves it.
    const file = join(tempDir("account-private"), "id_ed25519");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", file]);
    const sent: string[] = [];
    page.on("request", (r) => {
      if (r.url().includes("/api/gyre/me/ssh-keys") && r.method() === "POST") sent.push(r.url());
    });
    await form.getByLabel("Public key").fill(readFileSync(file, "utf8"));
    await form.getByRole("button", { name: "Add SSH key" }).click();
    await expect
      .poll(() => keys.getByRole("alert").textContent())
      .toBe(
        "This is a private key: it was not sent. Paste the public one: the .pub file beside it, or what `ssh-keygen -y -f <key file>` prints.",
      );
    expect(sent).toEqual([]);
  });

  it("has no serious accessibility violations, with a token and a key listed", async () => {
    const file = join(tempDir("account-key"), "id_ed25519");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "work laptop", "-f", file]);
    expect(
      (
        await call("/api/gyre/me/ssh-keys", signInToken, {
          method: "POST",
          body: { public_key: readFileSync(`${file}.pub`, "utf8") },
        })
      ).status,
    ).toBe(201);
    await page.goto(PAGE);
    await section(page, "SSH keys")
      .getByRole("row", { name: /work laptop/ })
      .waitFor();
    await section(page, "Personal API tokens")
      .getByRole("row", { name: /browser sign-in/ })
      .waitFor();
    await screenshot(page, "account");
    expect(await axeCheck(page)).toEqual([]);
    // Headings in order: the page's, then a section's each.
    const levels = await page
      .locator("main")
      .locator("h1, h2, h3")
      .evaluateAll((hs) => hs.map((h) => Number(h.tagName.slice(1))));
    expect(levels[0]).toBe(1);
    for (let i = 1; i < levels.length; i++) expect(levels[i]! - levels[i - 1]!).toBeLessThanOrEqual(1);
  });
});
