/**
 * A real browser for the web app's tests: Debian's chromium driven by playwright-core (no
 * downloaded browser), headless with the flags that keep it off the network except for the page
 * it is given. One browser per test file; each test gets its own context (cookies) and page.
 *
 * `signIn` signs a page in the way a person does locally (the token form); `axeCheck` runs
 * axe-core inside the page (evaluated through the DevTools protocol, so the page's CSP does
 * not stop it) and answers the serious and critical violations; `screenshot` writes a PNG under
 * test-results/web/ (not committed) for a person to look at.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { ensureWebBuilt } from "../../packages/web/src/build.ts";

export const CHROMIUM = process.env.GYRE_CHROMIUM ?? "/usr/bin/chromium";

const FLAGS = [
  "--headless=new",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-default-apps",
  "--disable-extensions",
  "--disable-sync",
  "--metrics-recording-only",
  "--no-first-run",
  "--no-default-browser-check",
  "--disable-features=Translate,OptimizationHints,MediaRouter,InterestFeedContentSuggestions",
];

/** The web app built from the current sources (once for all test files), then a browser. */
export async function launchBrowser(): Promise<Browser> {
  await ensureWebBuilt();
  return chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
}

export async function newPage(
  browser: Browser,
  baseURL: string,
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ baseURL, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  return { context, page };
}

/** Signs the page in with a personal token, through the sign-in page's token form. */
export async function signIn(page: Page, token: string, path = "/"): Promise<void> {
  await page.goto(path);
  await page.getByLabel("Personal API token").fill(token);
  await page.getByRole("button", { name: "Sign in with token" }).click();
  await page.getByRole("button", { name: "Sign out" }).waitFor();
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

export interface AxeViolation {
  id: string;
  impact: string;
  help: string;
  nodes: string[];
}

/** axe-core's serious and critical violations on the page as it is now (WCAG 2.1 A and AA rules). */
export async function axeCheck(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(`${axeSource}\n;undefined`);
  const violations = (await page.evaluate(async () => {
    const axe = (
      globalThis as unknown as { axe: { run: (o: unknown) => Promise<{ violations: unknown[] }> } }
    ).axe;
    const result = await axe.run({
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
    });
    return result.violations;
  })) as { id: string; impact: string; help: string; nodes: { target: string[] }[] }[];
  return violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => n.target.join(" ")),
    }));
}

export const SCREENSHOTS = resolve("test-results/web");

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}
