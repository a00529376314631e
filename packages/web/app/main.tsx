/**
 * Gyre's web app: pipelines down to each log line, live, and the operators' pages. Every byte of
 * data comes through the public API (app/api.ts) with the browser's session.
 */
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { StrictMode, Suspense } from "react";
import { createRoot } from "react-dom/client";
import { Route, Switch } from "wouter";
import { Layout, NotFound } from "./layout.tsx";
import { type LazyPage, lazyPage, PageOf } from "./lazy-page.tsx";
import { PipelinePage, PipelinesPage } from "./pages/pipelines.tsx";
import { buildQuery, jobOfPath, jobQuery } from "./queries.ts";
import { SessionGate, sessionQuery } from "./session.tsx";
import "./styles.css";

// Pages a first visit does not need load when opened (the one it opens, beside the session read).
const pages = {
  workflow: lazyPage(() => import("./pages/workflow.tsx")),
  job: lazyPage(() => import("./pages/job.tsx")),
  insights: lazyPage(() => import("./pages/insights.tsx")),
  settings: lazyPage(() => import("./pages/project-settings.tsx")),
  admin: lazyPage(() => import("./pages/admin.tsx")),
  projects: lazyPage(() => import("./pages/projects.tsx")),
  account: lazyPage(() => import("./pages/account.tsx")),
};

// A page's code that a deploy replaced while this tab was open: load the app afresh (once a minute
// at most, so a missing file cannot loop) — but only when the page on screen is the one waiting
// for it. A background load that failed (a page not open) is tried again when that page opens.
window.addEventListener("vite:preloadError", (event) => {
  if (pageOf(window.location.pathname)?.loaded || !pageOf(window.location.pathname)) return;
  const last = Number(sessionStorage.getItem("gyre-reloaded") ?? "0");
  if (Date.now() - last < 60_000) return;
  event.preventDefault();
  sessionStorage.setItem("gyre-reloaded", String(Date.now()));
  window.location.reload();
});

// The page this visit opens loads alongside the session read, not after it.
const PAGE_PATHS: [RegExp, LazyPage][] = [
  [/\/jobs\/\d+/, pages.job],
  [/\/workflows\//, pages.workflow],
  [/^\/insights\//, pages.insights],
  [/^\/settings\/user/, pages.account],
  [/^\/settings\//, pages.settings],
  [/^\/projects/, pages.projects],
  [/^\/admin/, pages.admin],
];
function pageOf(path: string): LazyPage | undefined {
  return PAGE_PATHS.find(([pattern]) => pattern.test(path))?.[1];
}
const openingLoaded = pageOf(window.location.pathname)?.preload();

const client = new QueryClient({
  defaultOptions: {
    queries: {
      // An answer that failed is asked again (a network blip), but a 4xx is an answer.
      retry: (count, error) => count < 3 && !((error as { status?: number }).status! < 500),
      refetchOnWindowFocus: true,
    },
  },
});

// The session is read now, while the opening page's code loads.
void client.prefetchQuery(sessionQuery);
// A visit that opens on a job: its reads start now, beside the session check, not after it.
const openingJob = jobOfPath(window.location.pathname);
if (openingJob) {
  void client.prefetchQuery(jobQuery(openingJob.slug, openingJob.number));
  void client.prefetchQuery(buildQuery(openingJob.slug, openingJob.number));
}

const P = "/pipelines/:vcs/:org/:repo";

function App() {
  return (
    <SessionGate>
      <Layout>
        <Suspense fallback={<p aria-busy="true">Loading…</p>}>
          <Switch>
            <Route path="/" component={PipelinesPage} />
            <Route path={P} component={PipelinesPage} />
            <Route path={`${P}/:num`} component={PipelinePage} />
            <Route path={`${P}/:num/workflows/:workflow`}>
              <PageOf page={pages.workflow} />
            </Route>
            <Route path={`${P}/:num/workflows/:workflow/jobs/:job`}>
              <PageOf page={pages.job} />
            </Route>
            <Route path="/insights/:vcs/:org/:repo">
              <PageOf page={pages.insights} />
            </Route>
            <Route path="/settings/project/:vcs/:org/:repo">
              <PageOf page={pages.settings} />
            </Route>
            <Route path="/settings/user">
              <PageOf page={pages.account} />
            </Route>
            <Route path="/projects">
              <PageOf page={pages.projects} />
            </Route>
            <Route path="/admin">
              <PageOf page={pages.admin} />
            </Route>
            <Route path="/admin/:section">
              <PageOf page={pages.admin} />
            </Route>
            <Route component={NotFound} />
          </Switch>
        </Suspense>
      </Layout>
    </SessionGate>
  );
}

// Drawn once the opening page's code is here (a first draw without it would show a fallback and
// wait out React's throttle); then the other pages' code loads in the background, so moving to
// them draws at once too.
const draw = () => {
  createRoot(document.getElementById("root")!).render(
    <StrictMode>
      <QueryClientProvider client={client}>
        <App />
      </QueryClientProvider>
    </StrictMode>,
  );
  // Not before the first page's own reads are done (a moment), then when the browser is idle.
  const idle = window.requestIdleCallback ?? ((f: () => void) => setTimeout(f, 0));
  setTimeout(
    () =>
      idle(() => {
        for (const page of Object.values(pages)) page.preload().catch(() => undefined);
      }),
    2000,
  );
};
// A load that stalls does not keep the page blank: after 3 s it draws anyway (its fallback shows).
const stalled = new Promise((resolve) => setTimeout(resolve, 3000));
void Promise.race([openingLoaded ?? Promise.resolve(), stalled])
  .catch(() => undefined)
  .finally(draw);
