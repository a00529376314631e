/**
 * The projects page in the browser, each change checked through the API afterwards: an
 * administrator adds a project through the form (a real git repository's path as its URL), is
 * shown its webhook secret once (and it is the real one: a push signed with it builds), finds
 * it in the list and opens its pipelines; a duplicate slug and a malformed one are refused with
 * the API's message, the form left filled; a project followed and unfollowed (the same user's
 * `GET /api/v1.1/projects` agrees), the followed-only filter; a project deleted after
 * confirming (the API then answers 404); a user who may only view offered no add or delete;
 * axe-core on the page, and screenshots.
 */
import { createToken, createUser } from "@gyre/core/auth/index";
import { readSettings, updateSettings } from "@gyre/core/settings/index";
import type { Page } from "playwright-core";
import { beforeAll, describe, expect, it } from "vitest";
import { axeCheck, newPage, screenshot, signIn } from "../support/browser.ts";
import { gitRepo } from "../support.ts";
import { addProject, api, pushed, web } from "./context.ts";

const CONFIG = `version: 2.1
jobs:
  hello:
    machine: true
    steps:
      - run: echo hello from the projects page
workflows:
  main:
    jobs: [hello]
`;

const ADDED = "gh/webprojects/added";
const LISTED = "gh/webprojects/listed";
const DOOMED = "gh/webprojects/doomed";

/** The administrator these scenarios act as: a token the browser signs in with and the test calls with. */
let adminToken: string;
let asAdmin: ReturnType<typeof api>;

async function signedIn(token = adminToken, path = "/projects") {
  const { context, page } = await newPage(web().browser, web().url);
  await signIn(page, token, path);
  await page.getByRole("heading", { level: 1, name: "Projects" }).waitFor();
  return { context, page };
}

const projectTable = (page: Page) => page.getByRole("table", { name: "Projects" });
const projectRow = (page: Page, slug: string) => projectTable(page).locator(`tr[data-slug="${slug}"]`);
const listStatus = (page: Page) => page.getByRole("region", { name: /projects$/ }).getByRole("status");

/** The slugs of the projects `client`'s user follows, as v1.1 names them. */
async function followedBy(client: ReturnType<typeof api>) {
  const answer = await client.get("/api/v1.1/projects");
  expect(answer.status).toBe(200);
  return (answer.body as unknown as { vcs_type: string; username: string; reponame: string }[]).map(
    (p) => `${p.vcs_type === "github" ? "gh" : p.vcs_type}/${p.username}/${p.reponame}`,
  );
}

describe("projects page", () => {
  beforeAll(async () => {
    const gyre = web().runtime.gyre;
    const admin = await createUser(gyre, { login: "projects-admin", name: "Projects Admin", admin: true });
    adminToken = await createToken(gyre, admin.id, "web-projects-test");
    asAdmin = api(web().url, adminToken);
    await addProject(LISTED, CONFIG);
    await addProject(DOOMED, CONFIG);
  }, 60_000);

  it("adds a project through the form, shows its webhook secret once, lists it and opens its pipelines", async () => {
    const repo = gitRepo({ ".circleci/config.yml": CONFIG });
    const { context, page } = await signedIn();
    const form = page.getByRole("form", { name: "Add a project" });
    await form.getByLabel("Repository URL").fill(repo.path);
    await form.getByLabel("Slug (optional)").fill(ADDED);
    await form.getByLabel("Default branch (optional)").fill("main");
    await form.getByRole("button", { name: "Add project" }).click();

    const panel = page.getByRole("region", { name: `Added ${ADDED}` });
    await panel.waitFor();
    // The heading has the focus; the live region says what happened.
    await expect
      .poll(() => panel.getByRole("heading").evaluate((el) => el === document.activeElement))
      .toBe(true);
    expect(await page.locator(".add-project > [role=status]").textContent()).toBe(
      `Added ${ADDED}. Its webhook secret is shown below, this once.`,
    );
    expect(await panel.getByRole("note").textContent()).toContain("shown only this once");
    const secret = await panel.getByLabel("Webhook secret").inputValue();
    expect(secret).toMatch(/^[0-9a-f]{48}$/);
    expect(await panel.getByLabel("Payload URL").inputValue()).toBe(`${web().url}/webhooks/github`);
    await panel.getByRole("button", { name: "Copy Webhook secret" }).waitFor();
    // The form is cleared for the next one.
    expect(await form.getByLabel("Repository URL").inputValue()).toBe("");

    const stored = await asAdmin.get(`/api/gyre/projects/${ADDED}`);
    expect(stored.status).toBe(200);
    expect(stored.body.vcs_info).toEqual({ vcs_url: repo.path, provider: "GitHub", default_branch: "main" });

    // In the list: its repository and default branch, its pages.
    const row = projectRow(page, ADDED);
    await row.waitFor();
    expect(await row.getByRole("cell").nth(0).textContent()).toBe(repo.path);
    expect(await row.getByRole("cell").nth(1).textContent()).toBe("main");
    expect(await row.getByRole("link", { name: `Settings of ${ADDED}` }).getAttribute("href")).toBe(
      `/settings/project/${ADDED}`,
    );
    expect(await row.getByRole("link", { name: `Insights of ${ADDED}` }).getAttribute("href")).toBe(
      `/insights/${ADDED}`,
    );
    expect(await axeCheck(page)).toEqual([]);
    await screenshot(page, "projects-added");

    // The secret shown is the project's own: a push signed with it is taken, and builds.
    await pushed(ADDED, secret, repo.head);

    // Dismissed, it is gone from the page, and nothing brings it back.
    await panel.getByRole("button", { name: "I have copied the secret" }).click();
    await panel.waitFor({ state: "detached" });
    expect(await page.content()).not.toContain(secret);
    await page.reload();
    await projectRow(page, ADDED).waitFor();
    expect(await page.content()).not.toContain(secret);

    await projectRow(page, ADDED).getByRole("link", { name: ADDED, exact: true }).click();
    await page.waitForURL(`${web().url}/pipelines/${ADDED}`);
    await page.getByRole("heading", { level: 1, name: ADDED }).waitFor();
    const pipeline = page.getByRole("article", { name: `Pipeline 1 of ${ADDED}` });
    await pipeline.waitFor({ timeout: 30_000 });
    const chip = pipeline.getByRole("link", { name: /^hello / }).locator(".chip");
    await expect.poll(() => chip.getAttribute("data-status"), { timeout: 60_000 }).toBe("success");
    await context.close();
  }, 120_000);

  it("refuses a duplicate slug and a malformed one with the API's message, the form left filled", async () => {
    const repo = gitRepo({ ".circleci/config.yml": CONFIG });
    // What the API answers the same body.
    const duplicate = await asAdmin.post("/api/gyre/projects", { repo_url: repo.path, slug: ADDED });
    expect(duplicate.status).toBe(409);
    const { context, page } = await signedIn();
    const form = page.getByRole("form", { name: "Add a project" });
    await form.getByLabel("Repository URL").fill(repo.path);
    await form.getByLabel("Slug (optional)").fill(ADDED);
    await form.getByRole("button", { name: "Add project" }).click();
    const alert = form.getByRole("alert");
    await expect.poll(() => alert.textContent()).toBe(duplicate.body.message);
    expect(duplicate.body.message).toContain("already exists");
    expect(await form.getByLabel("Repository URL").inputValue()).toBe(repo.path);
    expect(await form.getByLabel("Slug (optional)").inputValue()).toBe(ADDED);
    expect(await page.getByRole("region", { name: /^Added / }).count()).toBe(0);

    await form.getByLabel("Slug (optional)").fill("not a slug");
    await form.getByRole("button", { name: "Add project" }).click();
    const malformed = await asAdmin.post("/api/gyre/projects", { repo_url: repo.path, slug: "not a slug" });
    expect(malformed.status).toBe(400);
    await expect.poll(() => alert.textContent()).toBe(malformed.body.message);
    expect(await form.getByLabel("Slug (optional)").inputValue()).toBe("not a slug");
    expect(await form.getByLabel("Repository URL").inputValue()).toBe(repo.path);
    // Nothing was added.
    const listed = (await asAdmin.get("/api/gyre/projects")).body.items ?? [];
    expect(listed.filter((p) => (p.vcs_info as { vcs_url: string }).vcs_url === repo.path)).toEqual([]);
    await context.close();
  });

  it("follows and unfollows a project, as the same user's GET /api/v1.1/projects then says; filters to the followed", async () => {
    expect(await followedBy(asAdmin)).not.toContain(LISTED);
    const { context, page } = await signedIn();
    const row = projectRow(page, LISTED);
    const follow = row.getByRole("button", { name: `Follow ${LISTED}`, exact: true });
    // From the keyboard: the button keeps the focus as it turns into Unfollow.
    await follow.focus();
    await page.keyboard.press("Enter");
    const unfollow = row.getByRole("button", { name: `Unfollow ${LISTED}` });
    await unfollow.waitFor();
    await expect.poll(() => listStatus(page).textContent()).toBe(`Following ${LISTED}.`);
    expect(await unfollow.evaluate((el) => el === document.activeElement)).toBe(true);
    expect(await row.getByText("following", { exact: true }).count()).toBe(1);
    expect(await followedBy(asAdmin)).toEqual([LISTED]);

    // Followed only: that one, kept in the URL.
    await page.getByRole("checkbox", { name: "Followed only" }).check();
    await page.waitForURL(/\/projects\?followed=true$/);
    await page.getByRole("heading", { level: 2, name: "Followed projects" }).waitFor();
    await expect.poll(() => projectTable(page).locator("tbody tr").count()).toBe(1);
    await row.waitFor();

    await unfollow.click();
    await expect.poll(() => listStatus(page).textContent()).toBe(`No longer following ${LISTED}.`);
    expect(await followedBy(asAdmin)).toEqual([]);
    await page.getByText("You follow no projects yet").waitFor();

    // A reload reads the followed state from the API again.
    await page.getByRole("checkbox", { name: "Followed only" }).uncheck();
    await page.waitForURL(`${web().url}/projects`);
    await asAdmin.post(`/api/v1.1/project/${LISTED}/follow`);
    await page.reload();
    await projectRow(page, LISTED)
      .getByRole("button", { name: `Unfollow ${LISTED}` })
      .waitFor();
    await projectRow(page, LISTED)
      .getByRole("button", { name: `Unfollow ${LISTED}` })
      .click();
    await projectRow(page, LISTED)
      .getByRole("button", { name: `Follow ${LISTED}`, exact: true })
      .waitFor();
    expect(await followedBy(asAdmin)).toEqual([]);
    await context.close();
  });

  it("deletes a project after a confirm step that names it; the API then answers 404", async () => {
    const { context, page } = await signedIn();
    const row = projectRow(page, DOOMED);
    await row.getByRole("button", { name: `Delete ${DOOMED}` }).click();
    // Asked first, naming the project: nothing is gone yet, the confirming button has the focus.
    await row.getByText(`Delete ${DOOMED}?`).waitFor();
    const yes = row.getByRole("button", { name: `Yes, delete ${DOOMED}` });
    await expect.poll(() => yes.evaluate((el) => el === document.activeElement)).toBe(true);
    expect((await asAdmin.get(`/api/gyre/projects/${DOOMED}`)).status).toBe(200);
    // Escape cancels.
    await page.keyboard.press("Escape");
    await row.getByRole("button", { name: `Delete ${DOOMED}` }).waitFor();
    expect((await asAdmin.get(`/api/gyre/projects/${DOOMED}`)).status).toBe(200);

    await row.getByRole("button", { name: `Delete ${DOOMED}` }).click();
    await yes.click();
    await row.waitFor({ state: "detached" });
    await expect.poll(() => listStatus(page).textContent()).toContain(`Project ${DOOMED} removed`);
    expect((await asAdmin.get(`/api/gyre/projects/${DOOMED}`)).status).toBe(404);
    // The others stay.
    await projectRow(page, LISTED).waitFor();
    await projectRow(page, ADDED).waitFor();
    await context.close();
  });

  it("offers a user who may only view the projects no add or delete, but Follow", async () => {
    const gyre = web().runtime.gyre;
    const viewer = await createUser(gyre, { login: "projects-viewer" });
    const token = await createToken(gyre, viewer.id, "web-projects-test");
    const before = (await readSettings(gyre)).default_project_permission;
    await updateSettings(gyre, { default_project_permission: "view" });
    try {
      const { context, page } = await signedIn(token);
      await projectRow(page, LISTED).waitFor();
      expect(await page.getByRole("form", { name: "Add a project" }).count()).toBe(0);
      expect(await page.getByRole("heading", { name: "Add a project" }).count()).toBe(0);
      expect(await page.getByRole("link", { name: "Add a project" }).count()).toBe(0);
      expect(await page.getByRole("button", { name: /^Delete/ }).count()).toBe(0);
      expect(await page.getByRole("button", { name: "Add project" }).count()).toBe(0);
      await projectRow(page, LISTED)
        .getByRole("button", { name: `Follow ${LISTED}`, exact: true })
        .click();
      await expect.poll(() => listStatus(page).textContent()).toBe(`Following ${LISTED}.`);
      expect(await followedBy(api(web().url, token))).toEqual([LISTED]);
      expect(await followedBy(asAdmin)).toEqual([]);
      expect(await axeCheck(page)).toEqual([]);
      await context.close();
    } finally {
      await updateSettings(gyre, { default_project_permission: before });
    }
  });

  it("passes axe-core with no serious violations, headings in order; a screenshot", async () => {
    const { context, page } = await signedIn();
    await projectRow(page, LISTED).waitFor();
    await projectRow(page, LISTED)
      .getByRole("button", { name: `Follow ${LISTED}`, exact: true })
      .waitFor();
    const headings = await page
      .locator("main h1, main h2, main h3")
      .evaluateAll((els) => els.map((el) => `${el.tagName} ${el.textContent}`));
    expect(headings).toEqual(["H1 Projects", "H2 All projects", "H2 Add a project"]);
    // The form below the list is a link away, from the keyboard too.
    await page.getByRole("link", { name: "Add a project" }).focus();
    await page.keyboard.press("Enter");
    await page.waitForURL(/#add-project$/);
    expect(await axeCheck(page)).toEqual([]);
    await screenshot(page, "projects");
    await context.close();
  });
});
