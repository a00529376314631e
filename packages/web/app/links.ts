/** The app's own paths: the same ones the API's `web_url` and `build_url` point at. */

export const projectHref = (slug: string) => `/pipelines/${slug}`;
export const pipelineHref = (slug: string, number: number) => `/pipelines/${slug}/${number}`;
export const workflowHref = (slug: string, number: number, workflowId: string) =>
  `${pipelineHref(slug, number)}/workflows/${workflowId}`;
export const jobHref = (slug: string, number: number, workflowId: string, job: number) =>
  `${workflowHref(slug, number, workflowId)}/jobs/${job}`;
export const insightsHref = (slug: string) => `/insights/${slug}`;
export const projectSettingsHref = (slug: string) => `/settings/project/${slug}`;

/** The project slug of a page's `:vcs/:org/:repo` params. */
export const slugOf = (p: { vcs?: string; org?: string; repo?: string }) =>
  p.vcs && p.org && p.repo ? `${p.vcs}/${p.org}/${p.repo}` : undefined;
