/**
 * Signing in to the web app in the browser through the accounts flows: GitHub OAuth against the
 * GitHub stand-in (its authorize page answers as its signed-in user) back to the page the
 * browser started from, and LDAP against a real OpenLDAP (slapd), the wrong password refused.
 * The installation's sign-in settings are put back afterwards: the other scenarios sign in with
 * a token.
 */
import { DEFAULT_OAUTH_APP, type GithubStandIn, startGithubStandIn } from "@gyre/core/github/stand-in";
import { updateSettings } from "@gyre/core/settings/index";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { axeCheck, newPage } from "../support/browser.ts";
import { plainLdapSettings, type Slapd, startSlapd } from "../support/slapd.ts";
import { web } from "./context.ts";

describe("signing in to the web app with GitHub and LDAP", () => {
  let github: GithubStandIn;
  let slapd: Slapd;

  beforeAll(async () => {
    [github, slapd] = await Promise.all([startGithubStandIn(), startSlapd()]);
    github.addUser({ login: "octocat", id: 583231, name: "The Octocat", email: "octocat@example.com" });
  });

  afterAll(async () => {
    await updateSettings(web().runtime.gyre, { github: null, ldap: null });
    await github?.close();
    await slapd?.stop();
  });

  it("signs in with GitHub and comes back to the page it started from", async () => {
    await updateSettings(web().runtime.gyre, {
      github: {
        api_url: github.url,
        client_id: DEFAULT_OAUTH_APP.clientId,
        client_secret: DEFAULT_OAUTH_APP.clientSecret,
      },
      ldap: null,
    });
    github.signInAs("octocat");
    const { context, page } = await newPage(web().browser, web().url);
    await page.goto("/?mine=true");
    // GitHub only: no LDAP form, and the token form stays for local use.
    expect(await page.getByRole("form", { name: "Sign in with LDAP" }).count()).toBe(0);
    await page.getByRole("link", { name: "Sign in with GitHub" }).click();
    await page.getByText("Signed in as").waitFor();
    expect(await page.locator(".who strong").textContent()).toBe("octocat");
    expect(new URL(page.url()).pathname + new URL(page.url()).search).toBe("/?mine=true");
    expect((await context.cookies()).find((c) => c.name === "gyre_session")).toMatchObject({
      httpOnly: true,
      sameSite: "Lax",
    });
    await context.close();
  });

  it("signs in with LDAP; a wrong password is refused with the API's message", async () => {
    await updateSettings(web().runtime.gyre, {
      github: null,
      ldap: plainLdapSettings(slapd),
    });
    const { context, page } = await newPage(web().browser, web().url);
    await page.goto("/");
    const form = page.getByRole("form", { name: "Sign in with LDAP" });
    expect(await page.getByRole("link", { name: "Sign in with GitHub" }).count()).toBe(0);
    await form.getByLabel("Username").fill("ada");
    await form.getByLabel("Password").fill("wrong");
    await form.getByRole("button", { name: "Sign in" }).click();
    await expect.poll(() => page.getByRole("alert").textContent()).toBe("Invalid username or password.");
    expect(await axeCheck(page)).toEqual([]);
    await form.getByLabel("Password").fill(slapd.users.ada!.password);
    await form.getByRole("button", { name: "Sign in" }).click();
    await page.getByText("Signed in as").waitFor();
    expect(await page.locator(".who strong").textContent()).toBe("ada");
    await context.close();
  });
});
