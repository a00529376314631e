/**
 * Gyre's web app: pipelines down to each log line, live, and the operators' pages. Every byte of
 * data comes through the public API (app/api.ts) with the browser's session.
 */
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { lazy, StrictMode, Suspense } from "react";
import { createRoot } from "react-dom/client";
import { Route, Switch } from "wouter";
import { Layout, NotFound } from "./layout.tsx";
import { PipelinePage, PipelinesPage } from "./pages/pipelines.tsx";
import { buildQuery, jobOfPath, jobQuery } from "./queries.ts";
import { SessionGate } from "./session.tsx";
import "./styles.css";

// Pages a first visit does not need load when opened.
const pages = {
  workflow: () => import("./pages/workflow.tsx"),
  job: () => import("./pages/job.tsx"),
  insights: () => import("./pages/insights.tsx"),
  settings: () => import("./pages/project-settings.tsx"),
  admin: () => import("./pages/admin.tsx"),
};
const WorkflowPage = lazy(pages.workflow);
const JobPage = lazy(pages.job);
const InsightsPage = lazy(pages.insights);
const ProjectSettingsPage = lazy(pages.settings);
const AdminPage = lazy(pages.admin);

// A page's code that a deploy replaced while this tab was open: load the app afresh (once a minute
// at most, so a missing file cannot loop).
window.addEventListener("vite:preloadError", (event) => {
  const last = Number(sessionStorage.getItem("gyre-reloaded") ?? "0");
  if (Date.now() - last < 60_000) return;
  event.preventDefault();
  sessionStorage.setItem("gyre-reloaded", String(Date.now()));
  window.location.reload();
});

// The page this visit opens loads alongside the session read, not after it.
const opening = window.location.pathname;
if (/\/jobs\/\d+/.test(opening)) void pages.job();
else if (/\/workflows\//.test(opening)) void pages.workflow();
else if (opening.startsWith("/insights/")) void pages.insights();
else if (opening.startsWith("/settings/")) void pages.settings();
else if (opening.startsWith("/admin")) void pages.admin();

const client = new QueryClient({
  defaultOptions: {
    queries: {
      // An answer that failed is asked again (a network blip), but a 4xx is an answer.
      retry: (count, error) => count < 3 && !((error as { status?: number }).status! < 500),
      refetchOnWindowFocus: true,
    },
  },
});

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
            <Route path={`${P}/:num/workflows/:workflow`} component={WorkflowPage} />
            <Route path={`${P}/:num/workflows/:workflow/jobs/:job`} component={JobPage} />
            <Route path="/insights/:vcs/:org/:repo" component={InsightsPage} />
            <Route path="/settings/project/:vcs/:org/:repo" component={ProjectSettingsPage} />
            <Route path="/admin" component={AdminPage} />
            <Route path="/admin/:section" component={AdminPage} />
            <Route component={NotFound} />
          </Switch>
        </Suspense>
      </Layout>
    </SessionGate>
  );
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <QueryClientProvider client={client}>
      <App />
    </QueryClientProvider>
  </StrictMode>,
);
