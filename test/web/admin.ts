/**
 * The admin pages in the browser, each change checked through the API afterwards: a user
 * suspended (their token refused), reactivated, made and unmade an administrator, a refused
 * delete shown; a builder node drained and given back (it must be: the other scenarios need
 * both builders), made ineligible and eligible; a setting saved, LDAP set up with its secret
 * never shown and its test-user action run; an audit record found by its action, opened, and
 * exported; a week's usage picked and downloaded; a non-administrator told the pages are not
 * theirs. axe-core on every section, and a screenshot of each.
 */
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createToken, createUser } from "../../packages/core/src/auth/index.ts";
import { axeCheck, newPage, screenshot, signIn } from "../support/browser.ts";
import { runPipeline, waitFor } from "../support.ts";
import { addProject, web } from "./context.ts";

type Item = Record<string, unknown>;

/** The admin token's API call with any method (the shared client has GET and POST only). */
async function call(method: string, path: string, body?: unknown, token = web().adminToken) {
  const response = await fetch(`${web().url}${path}`, {
    method,
    headers: { "circle-token": token, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : undefined) as Item };
}

/** A person with a personal token, made as other tests make them. */
async function person(login: string, admin = false) {
  const user = await createUser(web().runtime.gyre, { login, name: `Web ${login}`, admin });
  return { user, token: await createToken(web().runtime.gyre, user.id, "web-admin-test") };
}

const USAGE_CONFIG = `version: 2.1
jobs:
  build:
    machine: true
    resource_class: small
    steps:
      - run: echo counted
workflows:
  main:
    jobs: [build]
`;

describe("admin pages", () => {
  let context: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    // One build this week, for the usage tables to count.
    await addProject("gh/web/admin-usage", USAGE_CONFIG);
    const run = await runPipeline(web().client, "gh/web/admin-usage");
    expect(run.workflow.status).toBe("success");
    ({ context, page } = await newPage(web().browser, web().url));
    await signIn(page, web().adminToken, "/admin");
  }, 120_000);

  afterAll(async () => {
    await context?.close();
  });

  async function expectAccessible(name: string) {
    await screenshot(page, `admin-${name}`);
    expect(await axeCheck(page)).toEqual([]);
  }

  it("opens on the users section, with a link to every section, the current one marked", async () => {
    await page.waitForURL(/\/admin\/users$/);
    const nav = page.getByRole("navigation", { name: "Admin sections" });
    for (const name of ["Users", "Fleet", "Settings", "Audit log", "Usage"])
      await expect(nav.getByRole("link", { name, exact: true }).isVisible()).resolves.toBe(true);
    expect(await nav.getByRole("link", { name: "Users" }).getAttribute("aria-current")).toBe("page");
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Admin" }).waitFor();
  });

  it("suspends a user from the users page, whose token is then refused, and reactivates them", async () => {
    const { user, token } = await person("web-suspend");
    expect((await call("GET", "/api/v2/me", undefined, token)).status).toBe(200);
    await page.goto("/admin/users");
    const row = page.locator('tr[data-login="web-suspend"]');
    await row.locator('[data-state="active"]').waitFor();
    await row.getByRole("button", { name: "Suspend web-suspend" }).click();
    // The confirm step: the question, and its button focused.
    const confirm = row.getByRole("group", { name: /^Suspend web-suspend\?/ });
    await confirm.waitFor();
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Suspend web-suspend");
    await confirm.getByRole("button", { name: "Suspend web-suspend" }).click();
    await row.locator('[data-state="suspended"]').waitFor();
    await page.getByRole("status").filter({ hasText: "web-suspend is suspended." }).waitFor();
    const refused = await waitFor("the suspended user's token to be refused", async () => {
      const answer = await call("GET", "/api/v2/me", undefined, token);
      return answer.status === 200 ? undefined : answer;
    });
    expect(refused.status).toBe(403);
    expect(refused.body.message).toMatch(/suspended/);
    expect((await call("GET", `/api/gyre/users/${user.id}`)).body.state).toBe("suspended");
    await expectAccessible("users");

    await row.getByRole("button", { name: "Reactivate web-suspend" }).click();
    await row.locator('[data-state="active"]').waitFor();
    await waitFor("the token to work again", async () =>
      (await call("GET", "/api/v2/me", undefined, token)).status === 200 ? true : undefined,
    );
  });

  it("makes a user an administrator and back, and opens their details and tokens", async () => {
    const { user } = await person("web-role");
    await page.goto("/admin/users");
    const row = page.locator('tr[data-login="web-role"]');
    await row.getByRole("button", { name: "Make admin web-role" }).click();
    await row.getByRole("button", { name: "Remove admin web-role" }).waitFor();
    expect((await call("GET", `/api/gyre/users/${user.id}`)).body.role).toBe("admin");
    await row.getByRole("button", { name: "Remove admin web-role" }).click();
    await row.getByRole("button", { name: "Remove admin role of web-role" }).click();
    await row.getByRole("button", { name: "Make admin web-role" }).waitFor();
    expect((await call("GET", `/api/gyre/users/${user.id}`)).body.role).toBe("normal");

    // Details and tokens beneath the row, the button saying it is expanded.
    const login = row.getByRole("button", { name: "web-role", exact: true });
    await login.click();
    expect(await login.getAttribute("aria-expanded")).toBe("true");
    const tokens = page.getByRole("table", { name: "Tokens of web-role" });
    await tokens.getByRole("cell", { name: "web-admin-test", exact: true }).waitFor();
    await tokens.getByRole("button", { name: "Revoke token web-admin-test" }).waitFor();
    await expect(page.getByText(user.id).isVisible()).resolves.toBe(true);
  });

  it("asks before deleting, cancels with Escape, and shows the API's refusal", async () => {
    const { user } = await person("web-gone");
    await page.goto("/admin/users");
    const row = page.locator('tr[data-login="web-gone"]');
    const remove = row.getByRole("button", { name: "Delete web-gone" });
    // Keyboard: Enter asks, the confirming button takes the focus, Escape puts it back.
    await remove.focus();
    await page.keyboard.press("Enter");
    await row.getByRole("group", { name: /^Delete web-gone\?/ }).waitFor();
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Delete web-gone");
    await page.keyboard.press("Escape");
    await remove.waitFor();
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Delete web-gone");
    // Someone else deletes them meanwhile: the page's delete is refused, and says so.
    expect((await call("DELETE", `/api/gyre/users/${user.id}`)).status).toBe(200);
    await remove.click();
    await row.getByRole("button", { name: "Delete web-gone" }).click();
    const alert = page.getByRole("alert");
    await alert.filter({ hasText: "not found" }).waitFor();
    // The list, read again, no longer has them.
    await row.waitFor({ state: "detached" });
  });

  it("drains a node from the fleet page, ends the drain, and toggles its eligibility", async () => {
    const nodes = (await web().client.get("/v1/nodes")).body as unknown as Item[];
    const node = nodes.find(
      (n) => n.Status === "ready" && !n.Drain && n.SchedulingEligibility === "eligible",
    );
    expect(node).toBeDefined();
    const id = node!.ID as string;
    const name = (node!.Name as string) || id;
    const nomadNode = async () => (await web().client.get(`/v1/node/${id}`)).body;
    try {
      await page.goto("/admin/fleet");
      const row = page.locator(`tr[data-node="${id}"]`);
      await row.getByRole("button", { name: `Drain… node ${name}` }).click();
      const form = row.getByRole("form", { name: `Drain node ${name}` });
      expect(await form.getByLabel("Deadline").inputValue()).toBe("0");
      await form.getByRole("button", { name: `Start drain of node ${name}` }).click();
      await row.getByRole("button", { name: `End drain of node ${name}` }).waitFor();
      const drained = await nomadNode();
      expect(drained.Drain).toBe(true);
      expect(drained.SchedulingEligibility).toBe("ineligible");
      expect(drained.DrainStrategy).toMatchObject({ Deadline: 0 });
      await row.getByText("draining", { exact: true }).waitFor();

      // The node's details: resources, the drain, what runs on it.
      await row.getByRole("link", { name: `Details of node ${name}` }).click();
      await page.waitForURL(new RegExp(`/admin/fleet\\?node=${id}$`));
      const details = page.getByRole("region", { name: `Node ${name}` });
      await details.getByText("no deadline").waitFor();
      await details.getByRole("heading", { name: "Running allocations" }).waitFor();
      await page.getByRole("heading", { name: "Job queues" }).waitFor();
      await page.locator('table.queues tr[data-class="medium"]').waitFor();
      await expectAccessible("fleet");

      await row.getByRole("button", { name: `End drain of node ${name}` }).click();
      await row.getByRole("button", { name: `Disable eligibility of node ${name}` }).waitFor();
      const back = await nomadNode();
      expect(back.Drain).toBe(false);
      expect(back.SchedulingEligibility).toBe("eligible");

      await row.getByRole("button", { name: `Disable eligibility of node ${name}` }).click();
      await row.getByRole("button", { name: `Enable eligibility of node ${name}` }).waitFor();
      expect((await nomadNode()).SchedulingEligibility).toBe("ineligible");
      await row.getByRole("button", { name: `Enable eligibility of node ${name}` }).click();
      await row.getByRole("button", { name: `Disable eligibility of node ${name}` }).waitFor();
      expect((await nomadNode()).SchedulingEligibility).toBe("eligible");
    } finally {
      // Whatever happened above, the node goes back to work.
      await web().client.post(`/v1/node/${id}/drain`, { DrainSpec: null, MarkEligible: true });
      await web().client.post(`/v1/node/${id}/eligibility`, { Eligibility: "eligible" });
    }
  });

  it("saves a changed setting, checked through the API", async () => {
    const before = (await call("GET", "/api/gyre/settings")).body;
    const wanted = (before.permission_cache_seconds as number) + 1;
    try {
      await page.goto("/admin/settings");
      const field = page.getByLabel("Permission cache seconds");
      expect(await field.inputValue()).toBe(String(before.permission_cache_seconds));
      await field.fill(String(wanted));
      await page.getByLabel("Suspend new users").waitFor();
      await page.getByRole("button", { name: "Save" }).click();
      await page.getByRole("status").filter({ hasText: "Saved: permission_cache_seconds." }).waitFor();
      const after = (await call("GET", "/api/gyre/settings")).body;
      expect(after.permission_cache_seconds).toBe(wanted);
      // Nothing else changed.
      expect({ ...after, permission_cache_seconds: before.permission_cache_seconds }).toEqual(before);
      expect(await page.getByLabel("Permission cache seconds").inputValue()).toBe(String(wanted));

      // A value the API refuses: its message, and nothing written.
      await page.getByLabel("Session hours").fill("0");
      await page.getByRole("button", { name: "Save" }).click();
      await page.getByRole("alert").filter({ hasText: "session_hours" }).waitFor();
      expect((await call("GET", "/api/gyre/settings")).body.session_hours).toBe(before.session_hours);
    } finally {
      await call("PATCH", "/api/gyre/settings", {
        permission_cache_seconds: before.permission_cache_seconds,
      });
    }
  });

  it("shows an LDAP secret only as set, tests a user with it, and turns LDAP off", async () => {
    const secret = "never-shown-web-secret";
    const set = await call("PATCH", "/api/gyre/settings", {
      ldap: {
        host: "127.0.0.1",
        port: 1,
        security: "plain",
        search_user: "cn=admin,dc=example,dc=org",
        search_password: secret,
        base_dn: "dc=example,dc=org",
        user_search_dn: "ou=users",
        connect_timeout_ms: 2000,
      },
    });
    expect(set.status).toBe(200);
    try {
      await page.goto("/admin/settings");
      const ldap = page.getByRole("group", { name: "LDAP sign-in" });
      const password = ldap.locator('[data-setting="ldap.search_password"]');
      await password.getByText("set", { exact: true }).waitFor();
      expect(await password.getByLabel(/Search password/).inputValue()).toBe("");
      expect(await page.content()).not.toContain(secret);
      expect(await ldap.getByLabel("Host").inputValue()).toBe("127.0.0.1");

      // The test-user action: nothing listens on port 1, so the connect step fails, saying so.
      const test = page.getByRole("form", { name: "Test an LDAP user" });
      await test.getByLabel("Username").fill("ada");
      await test.getByLabel("Password").fill("whatever");
      await test.getByRole("button", { name: "Test user" }).click();
      await page.locator(".ldap-report li.failed").first().waitFor();
      await page.getByText("This user cannot sign in with these settings.").waitFor();
      await expectAccessible("settings");

      // A field changed within the section keeps the secret; the API says so.
      await ldap.getByLabel("User search DN").fill("ou=people");
      await page.getByRole("button", { name: "Save" }).click();
      await page.getByRole("status").filter({ hasText: "Saved: ldap." }).waitFor();
      const after = (await call("GET", "/api/gyre/settings")).body.ldap as Item;
      expect(after.user_search_dn).toBe("ou=people");
      expect(after.search_password).toBe("********");

      await page.getByRole("button", { name: "Turn off LDAP sign-in" }).click();
      await page.getByRole("button", { name: "Remove the ldap settings" }).click();
      await page.getByRole("status").filter({ hasText: "LDAP sign-in is off." }).waitFor();
      expect((await call("GET", "/api/gyre/settings")).body.ldap).toBeNull();
      await page.getByRole("button", { name: "Set up LDAP sign-in" }).waitFor();
    } finally {
      await call("PATCH", "/api/gyre/settings", { ldap: null });
    }
  });

  it("finds an audit record by its action, opens it whole, and exports the same filter", async () => {
    // A record of its own to find: a suspension (and the reactivation that undoes it).
    const { user } = await person("web-audited");
    expect((await web().client.post(`/api/gyre/users/${user.id}/suspend`, {})).status).toBe(200);
    expect((await web().client.post(`/api/gyre/users/${user.id}/activate`, {})).status).toBe(200);

    await page.goto("/admin/audit");
    const filters = page.getByRole("form", { name: "Filter audit records" });
    await filters.getByLabel("Action").fill("user.suspend");
    await filters.getByLabel("Target").fill("web-audited");
    await filters.getByRole("button", { name: "Apply filters" }).click();
    await page.waitForURL(/action=user\.suspend/);
    const rows = page.locator("table.audit tbody tr[data-action]");
    await rows.first().waitFor();
    expect(await rows.count()).toBe(1);
    const row = rows.first();
    expect(await row.getAttribute("data-action")).toBe("user.suspend");
    await row.getByText("web-audited").waitFor();
    await expect(row.getByRole("cell", { name: "yes", exact: true }).isVisible()).resolves.toBe(true);

    const show = row.getByRole("button", { name: /^Show the record user\.suspend/ });
    await show.click();
    const json = page.locator("table.audit tr.details pre");
    await json.waitFor();
    const record = JSON.parse((await json.textContent()) ?? "") as Item;
    expect(record).toMatchObject({
      action: "user.suspend",
      target: { id: user.id, type: "user", name: "web-audited" },
      payload: { before: "active", after: "suspended" },
      success: true,
    });
    await expectAccessible("audit");

    // The export link carries the same filters, and answers the record as CSV.
    const link = page.getByRole("link", { name: "Export CSV" });
    const href = (await link.getAttribute("href")) ?? "";
    const exported = new URL(href, web().url);
    expect(exported.pathname).toBe("/api/gyre/audit/export");
    expect(Object.fromEntries(exported.searchParams)).toEqual({
      action: "user.suspend",
      target: "web-audited",
      format: "csv",
    });
    const csv = await context.request.get(href);
    expect(csv.status()).toBe(200);
    const lines = (await csv.text()).trim().split(/\r?\n/);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toContain("user.suspend");
    expect(lines[1]).toContain(user.id);

    // An action prefix finds both records of that user, and only those.
    await filters.getByLabel("Action").fill("user.");
    await filters.getByRole("button", { name: "Apply filters" }).click();
    await page.waitForURL(/action=user\.&/);
    await page.locator('table.audit tr[data-action="user.activate"]').waitFor();
    const actions = await page
      .locator("table.audit tbody tr[data-action]")
      .evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-action")));
    expect(actions.sort()).toEqual(["user.activate", "user.suspend"]);
  });

  it("shows a week's usage, picked with the week picker, with its CSV downloads", async () => {
    const thisWeek = (await web().client.get("/api/gyre/usage?week=this")).body;
    const id = thisWeek.week as string;
    const lastWeek = (await web().client.get("/api/gyre/usage?week=last")).body.week as string;
    expect(lastWeek).not.toBe(id);
    // The page opens on the week under way (a new installation's first week is not empty).
    await page.goto("/admin/usage");
    await page.getByRole("heading", { name: new RegExp(`^${id}.*so far`) }).waitFor();
    expect(await page.getByRole("button", { name: "This week so far" }).getAttribute("aria-pressed")).toBe(
      "true",
    );
    const minutes = page.getByRole("region", { name: "Build minutes by resource class and platform" });
    await minutes.getByRole("cell", { name: "small", exact: true }).first().waitFor();
    const jobs = page.getByRole("region", { name: "Jobs by status and project" });
    const project = jobs
      .getByRole("row")
      .filter({ has: page.getByRole("rowheader", { name: "gh/web/admin-usage" }) });
    await project.waitFor();
    await page.getByRole("region", { name: /^Active users/ }).waitFor();
    await expectAccessible("usage");

    // The CSVs name the week answered, not "this" (which moves as time passes).
    for (const report of ["account_usage", "job_activity", "active_users"]) {
      const link = page.locator(`a[href*="report=${report}"]`);
      const href = (await link.getAttribute("href")) ?? "";
      expect(new URL(href, web().url).searchParams.get("week")).toBe(id);
      const csv = await context.request.get(href);
      expect(csv.status()).toBe(200);
      expect(csv.headers()["content-type"]).toContain("text/csv");
      const text = await csv.text();
      expect(text.startsWith("week,")).toBe(true);
      if (report === "job_activity") expect(text).toContain("gh/web/admin-usage");
    }

    // A week picked with the picker; then "Last full week" and "This week so far".
    await page.getByLabel("Week", { exact: true }).fill(lastWeek);
    await page.waitForURL(new RegExp(`/admin/usage\\?week=${lastWeek}$`));
    await page.getByRole("heading", { name: new RegExp(`^${lastWeek}`) }).waitFor();
    await page.getByRole("button", { name: "This week so far" }).click();
    await page.waitForURL(/\/admin\/usage\?week=this$/);
    await page.getByRole("heading", { name: new RegExp(`^${id}.*so far`) }).waitFor();
    await page.getByRole("button", { name: "Last full week" }).click();
    await page.waitForURL(/\/admin\/usage\?week=last$/);
    await page.getByRole("heading", { name: new RegExp(`^${lastWeek}`) }).waitFor();
    expect(await page.getByRole("button", { name: "Last full week" }).getAttribute("aria-pressed")).toBe(
      "true",
    );
  });

  it("tells a non-administrator the pages are for administrators only", async () => {
    const { token } = await person("web-normal");
    const other = await newPage(web().browser, web().url);
    try {
      await signIn(other.page, token, "/admin/users");
      await other.page.getByRole("heading", { name: "Administrators only" }).waitFor();
      await other.page.getByRole("alert").filter({ hasText: "administrators" }).waitFor();
      expect(
        await other.page
          .getByRole("navigation", { name: "Main" })
          .getByRole("link", { name: "Admin" })
          .count(),
      ).toBe(0);
      expect(await other.page.getByRole("table").count()).toBe(0);
      // The API agrees.
      expect((await call("GET", "/api/gyre/users", undefined, token)).status).toBe(403);
      await screenshot(other.page, "admin-not-admin");
      expect(await axeCheck(other.page)).toEqual([]);
    } finally {
      await other.context.close();
    }
  });
});
