/**
 * The project settings' Triggers section (scheduled pipelines) in the browser, each change
 * checked through API v2 afterwards: a schedule created in the form (its exact timetable and
 * parameters), edited (only what changed is sent), a timetable the API refuses (its message
 * shown, what was typed kept), what a viewer and a writer are offered, one deleted after
 * asking; axe-core on the section with its forms, and a screenshot.
 *
 * The hours chosen are two and three hours from now (UTC), so the live scheduler fires none of
 * them while the scenarios run.
 */
import { issueToken } from "@gyre/core/auth/index";
import { createUser } from "@gyre/core/auth/users";
import { readSettings, updateSettings } from "@gyre/core/settings/index";
import type { Page } from "playwright-core";
import { beforeAll, describe, expect, it } from "vitest";
import { describeTimetable, hourLabel } from "../../packages/web/app/pages/project-settings/schedule-form.ts";
import type { ScheduleTimetable } from "../../packages/web/app/types.ts";
import { axeCheck, newPage, screenshot, signIn } from "../support/browser.ts";
import { addProject, web } from "./context.ts";

const SLUG = "gh/websched/app";
const PAGE = `/settings/project/${SLUG}`;
const LIST = `/api/v2/project/${SLUG}/schedule`;

const CONFIG = `version: 2.1
parameters:
  deploy:
    type: boolean
    default: false
  region:
    type: string
    default: us-east-1
jobs:
  build:
    machine: true
    steps:
      - run: echo "deploy << pipeline.parameters.deploy >> to << pipeline.parameters.region >>"
workflows:
  main:
    jobs: [build]
`;

const HOUR = 3600_000;
const utcHourFromNow = (n: number) => new Date(Date.now() + n * HOUR).getUTCHours();
const HOURS = [utcHourFromNow(2), utcHourFromNow(3)].sort((a, b) => a - b);

type Item = Record<string, unknown>;

/** The admin token's API call with any method (the shared client has GET and POST only). */
async function call(method: string, path: string, body?: unknown) {
  const response = await fetch(`${web().url}${path}`, {
    method,
    headers: {
      "circle-token": web().adminToken,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : undefined) as Item };
}

const schedules = async () => (await web().client.get(LIST)).body.items as Item[];

async function signedIn(token = web().adminToken) {
  const { context, page } = await newPage(web().browser, web().url);
  await signIn(page, token, PAGE);
  return { context, page };
}

const triggers = (page: Page) => page.getByRole("region", { name: "Triggers", exact: true });
const table = (page: Page) => triggers(page).getByRole("table", { name: "Scheduled pipelines" });
const status = (page: Page) => triggers(page).getByRole("status").last();

/** axe-core's serious and critical violations of the Triggers section's own elements. */
async function sectionViolations(page: Page) {
  const violations = await axeCheck(page);
  const inSection = await Promise.all(
    violations.map(async (v) => ({
      ...v,
      nodes: (
        await Promise.all(
          v.nodes.map(async (selector) =>
            (await page.evaluate((s) => document.querySelector(s)?.closest("#triggers") != null, selector))
              ? selector
              : undefined,
          ),
        )
      ).filter((n) => n !== undefined),
    })),
  );
  return inSection.filter((v) => v.nodes.length > 0);
}

describe("project settings: triggers (scheduled pipelines)", () => {
  beforeAll(async () => {
    await addProject(SLUG, CONFIG);
  }, 60_000);

  it("creates a schedule in the form; the API has its exact timetable and parameters", async () => {
    const { context, page } = await signedIn();
    await page
      .getByRole("navigation", { name: "Settings sections" })
      .getByRole("link", { name: "Triggers" })
      .click();
    await page.waitForURL(/#triggers$/);
    await triggers(page).getByText("No scheduled pipelines.").waitFor();
    const form = page.getByRole("form", { name: "Create a schedule" });
    // The defaults: once an hour, every day and month, on the default branch, as the user.
    expect(await form.getByLabel("Runs per hour").inputValue()).toBe("1");
    expect(await form.getByLabel("Branch or tag").inputValue()).toBe("main");
    expect(await form.getByRole("radio", { name: "Me (the user saving it)" }).isChecked()).toBe(true);
    const week = form.getByRole("group", { name: "Days of the week" });
    expect(await week.getByRole("checkbox").count()).toBe(7);
    for (const box of await week.getByRole("checkbox").all()) expect(await box.isChecked()).toBe(true);
    expect(await sectionViolations(page)).toEqual([]);

    await form.getByLabel("Name", { exact: true }).fill("nightly build");
    await form.getByLabel("Description").fill("warms the cache");
    await form.getByLabel("Runs per hour").fill("4");
    const hours = form.getByRole("group", { name: "Hours of the day (UTC)" });
    for (const h of HOURS) await hours.getByRole("checkbox", { name: hourLabel(h), exact: true }).check();
    await week.getByRole("button", { name: "Clear Days of the week" }).click();
    // By keyboard too: a checkbox takes the focus and Space ticks it.
    await week.getByRole("checkbox", { name: "Monday" }).focus();
    await page.keyboard.press("Space");
    await week.getByRole("checkbox", { name: "Wednesday" }).check();
    await week.getByRole("checkbox", { name: "Friday" }).check();
    await form.getByLabel("Pipeline parameters").fill("deploy=true\nregion=eu-west-1");
    await form.getByRole("button", { name: "Create schedule" }).click();

    await expect.poll(() => status(page).textContent()).toBe("Created schedule nightly build.");
    const timetable: ScheduleTimetable = {
      "per-hour": 4,
      "hours-of-day": HOURS,
      "days-of-week": ["MON", "WED", "FRI"],
    };
    const me = (await web().client.get("/api/v2/me")).body;
    expect(await schedules()).toEqual([
      {
        id: expect.any(String),
        name: "nightly build",
        description: "warms the cache",
        "project-slug": SLUG,
        timetable,
        parameters: { branch: "main", deploy: true, region: "eu-west-1" },
        "attribution-actor": "current",
        actor: { id: me.id, login: me.login, name: me.name },
        "created-at": expect.any(String),
        "updated-at": expect.any(String),
      },
    ]);
    // Listed with when it fires in words, its branch, parameters and who its pipelines are for.
    const row = table(page).getByRole("row", { name: /nightly build/ });
    const cells = await row.getByRole("cell").allTextContents();
    expect(cells.slice(0, 5)).toEqual([
      describeTimetable(timetable),
      "branch main",
      "deploy=true\nregion=eu-west-1",
      "User",
      expect.stringContaining(me.login as string),
    ]);
    expect(cells[0]).toMatch(/^Every 15 minutes from .*, on Mondays, Wednesdays and Fridays \(UTC\)\.$/);
    expect(await row.getByRole("rowheader").textContent()).toBe("nightly buildwarms the cache");
    // The form is empty again for the next one.
    expect(await form.getByLabel("Name", { exact: true }).inputValue()).toBe("");
    await context.close();
  });

  it("edits the schedule in the same form, prefilled, sending only what changed", async () => {
    const { context, page } = await signedIn();
    const edit = table(page).getByRole("button", { name: "Edit nightly build" });
    await edit.click();
    const form = page.getByRole("form", { name: "Edit schedule nightly build" });
    const name = form.getByLabel("Name", { exact: true });
    await expect.poll(() => name.evaluate((el) => el === document.activeElement)).toBe(true);
    expect(await name.inputValue()).toBe("nightly build");
    expect(await form.getByLabel("Description").inputValue()).toBe("warms the cache");
    expect(await form.getByLabel("Runs per hour").inputValue()).toBe("4");
    const week = form.getByRole("group", { name: "Days of the week" });
    expect(await week.getByRole("checkbox", { name: "Monday" }).isChecked()).toBe(true);
    expect(await week.getByRole("checkbox", { name: "Tuesday" }).isChecked()).toBe(false);
    const hours = form.getByRole("group", { name: "Hours of the day (UTC)" });
    expect(await hours.getByRole("checkbox", { name: hourLabel(HOURS[0]!), exact: true }).isChecked()).toBe(
      true,
    );
    expect(await form.getByLabel("Pipeline parameters").inputValue()).toBe("deploy=true\nregion=eu-west-1");
    // No create form meanwhile: one form at a time.
    expect(await page.getByRole("form", { name: "Create a schedule" }).count()).toBe(0);
    expect(await sectionViolations(page)).toEqual([]);

    await form.getByLabel("Runs per hour").fill("1");
    await week.getByRole("checkbox", { name: "Saturday" }).check();
    await form.getByRole("radio", { name: "Tag" }).check();
    await form.getByLabel("Branch or tag").fill("v1.0");
    await form.getByLabel("Pipeline parameters").fill("deploy=false\nregion=eu-west-1");
    await form.getByRole("radio", { name: "The system (Scheduled pipelines)" }).check();
    const patch = page.waitForRequest((r) => r.method() === "PATCH" && r.url().includes("/api/v2/schedule/"));
    await form.getByRole("button", { name: "Save schedule" }).click();
    expect((await patch).postDataJSON()).toEqual({
      timetable: { "per-hour": 1, "days-of-week": ["MON", "WED", "FRI", "SAT"] },
      parameters: { tag: "v1.0", deploy: false, region: "eu-west-1" },
      "attribution-actor": "system",
    });
    await expect.poll(() => status(page).textContent()).toBe("Saved schedule nightly build.");
    // The form closes and the focus is back on the row's Edit button.
    await form.waitFor({ state: "detached" });
    await expect.poll(() => edit.evaluate((el) => el === document.activeElement)).toBe(true);

    const [saved] = await schedules();
    expect(saved).toMatchObject({
      name: "nightly build",
      description: "warms the cache",
      timetable: { "per-hour": 1, "hours-of-day": HOURS, "days-of-week": ["MON", "WED", "FRI", "SAT"] },
      parameters: { tag: "v1.0", deploy: false, region: "eu-west-1" },
      "attribution-actor": "system",
      actor: { login: "scheduled-pipelines", name: "Scheduled pipelines" },
    });
    const row = table(page).getByRole("row", { name: /nightly build/ });
    await expect.poll(() => row.getByRole("cell").nth(1).textContent()).toBe("tag v1.0");
    expect(await row.getByRole("cell").nth(0).textContent()).toBe(
      describeTimetable(saved!.timetable as ScheduleTimetable),
    );
    expect(await row.getByRole("cell").nth(3).textContent()).toBe("System");
    await screenshot(page, "project-settings-triggers");
    await context.close();
  });

  it("shows the API's message for a timetable it refuses, keeping what was typed", async () => {
    const { context, page } = await signedIn();
    const form = page.getByRole("form", { name: "Create a schedule" });
    await form.getByLabel("Name", { exact: true }).fill("no days");
    const hour = form
      .getByRole("group", { name: "Hours of the day (UTC)" })
      .getByRole("checkbox", { name: hourLabel(HOURS[0]!), exact: true });
    await hour.check();
    await form.getByRole("button", { name: "Clear Days of the week" }).click();
    await form.getByRole("button", { name: "Create schedule" }).click();
    // What the API answers the same body, word for word.
    const refused = await call("POST", LIST, {
      name: "no days",
      timetable: { "per-hour": 1, "hours-of-day": [HOURS[0]] },
      "attribution-actor": "current",
      parameters: { branch: "main" },
    });
    expect(refused.status).toBe(400);
    expect(refused.body.message).toContain("give days-of-week or days-of-month");
    await expect.poll(() => form.getByRole("alert").textContent()).toBe(refused.body.message);
    expect(await form.getByLabel("Name", { exact: true }).inputValue()).toBe("no days");
    expect(await hour.isChecked()).toBe(true);
    expect(await schedules()).toHaveLength(1);

    // Pipeline parameters that are not key=value lines are caught before anything is sent.
    await form.getByLabel("Pipeline parameters").fill("deploy=true\nnot a parameter");
    await form.getByRole("checkbox", { name: "Sunday" }).check();
    await form.getByRole("button", { name: "Create schedule" }).click();
    await expect
      .poll(() => form.getByRole("alert").textContent())
      .toBe("Pipeline parameters, line 2: “not a parameter” is not key=value.");
    expect(await schedules()).toHaveLength(1);

    // An edit whose days are all unticked is refused too (not saved with the old days).
    const [current] = await schedules();
    await table(page).getByRole("button", { name: "Edit nightly build" }).click();
    const edit = page.getByRole("form", { name: "Edit schedule nightly build" });
    await edit.getByRole("button", { name: "Clear Days of the week" }).click();
    await edit.getByRole("button", { name: "Save schedule" }).click();
    const patched = await call("PATCH", `/api/v2/schedule/${current!.id}`, {
      timetable: { "days-of-week": [] },
    });
    expect(patched.status).toBe(400);
    await expect.poll(() => edit.getByRole("alert").textContent()).toBe(patched.body.message);
    expect(patched.body.message).toContain("days-of-week");
    expect((await schedules())[0]).toEqual(current);
    expect(await sectionViolations(page)).toEqual([]);
    await edit.getByRole("button", { name: "Cancel" }).click();
    await page.getByRole("form", { name: "Create a schedule" }).waitFor();
    await context.close();
  });

  it("is read only for a user who may view the project, and changeable with write permission", async () => {
    const gyre = web().runtime.gyre;
    const user = await createUser(gyre, { login: "schedules-viewer" });
    const { token } = await issueToken(gyre, user.id, "web");
    const before = (await readSettings(gyre)).default_project_permission;
    try {
      await updateSettings(gyre, { default_project_permission: "view" });
      const viewer = await signedIn(token);
      await table(viewer.page)
        .getByRole("row", { name: /nightly build/ })
        .waitFor();
      await triggers(viewer.page).getByText("needs write permission on the project").waitFor();
      expect(await viewer.page.getByRole("form", { name: "Create a schedule" }).count()).toBe(0);
      expect(await triggers(viewer.page).getByRole("button").count()).toBe(0);
      expect(await sectionViolations(viewer.page)).toEqual([]);
      await viewer.context.close();

      // Write is what the API asks of schedule changes: less than the other sections' admin.
      await updateSettings(gyre, { default_project_permission: "write" });
      const writer = await signedIn(token);
      await writer.page.getByRole("form", { name: "Create a schedule" }).waitFor();
      await table(writer.page).getByRole("button", { name: "Edit nightly build" }).waitFor();
      expect(await writer.page.getByRole("form", { name: "Add an environment variable" }).count()).toBe(0);
      expect(await triggers(writer.page).getByText("needs write permission").count()).toBe(0);
      await writer.context.close();
    } finally {
      await updateSettings(gyre, { default_project_permission: before });
    }
  });

  it("deletes a schedule after asking; it is gone from the page and the API", async () => {
    const { context, page } = await signedIn();
    const row = table(page).getByRole("row", { name: /nightly build/ });
    await row.waitFor();
    await row.getByRole("button", { name: "Delete nightly build" }).click();
    const yes = row.getByRole("button", { name: "Yes, delete nightly build" });
    await expect.poll(() => yes.evaluate((el) => el === document.activeElement)).toBe(true);
    // Asked first: nothing is gone yet.
    expect(await schedules()).toHaveLength(1);
    await yes.click();
    await expect.poll(() => status(page).textContent()).toBe("Deleted schedule nightly build.");
    await triggers(page).getByText("No scheduled pipelines.").waitFor();
    expect(await schedules()).toEqual([]);
    await context.close();
  });
});
