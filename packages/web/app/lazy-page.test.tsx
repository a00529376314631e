/** Lazy pages: drawn at once once loaded ahead, React's lazy (a fallback) before; a failed load tried again. */
import { Suspense } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { lazyPage, PageOf } from "./lazy-page.tsx";

const draw = (page: ReturnType<typeof lazyPage>) =>
  renderToStaticMarkup(
    <Suspense fallback={<p>waiting</p>}>
      <PageOf page={page} />
    </Suspense>,
  );

describe("lazy pages", () => {
  it("shows the fallback before the code is loaded, and the page itself, with no suspending, once preloaded", async () => {
    let loads = 0;
    const page = lazyPage(async () => {
      loads++;
      return { default: () => <h1>the page</h1> };
    });
    expect(draw(page)).toBe("<p>waiting</p>");
    await page.preload();
    await page.preload();
    expect(draw(page)).toBe("<h1>the page</h1>");
    expect(loads).toBe(1);
  });

  it("loads again after a failed load instead of keeping the failure", async () => {
    let attempts = 0;
    const page = lazyPage(async () => {
      attempts++;
      if (attempts === 1) throw new Error("network down");
      return { default: () => <h1>second try</h1> };
    });
    await expect(page.preload()).rejects.toThrow("network down");
    await page.preload();
    expect(draw(page)).toBe("<h1>second try</h1>");
    expect(attempts).toBe(2);
  });
});
