/**
 * Pages whose code loads when first needed, and are drawn at once when it already has. React's
 * `lazy` suspends on the first render of every use, even of a module already loaded, and a
 * Suspense boundary that showed its fallback reveals what it waited for only after its fallback
 * throttle (300 ms): a page loaded ahead (`preload`) is drawn without either.
 */
import { type ComponentType, lazy, useMemo } from "react";

export interface LazyPage {
  /** Loads the page's code (once; a failed load may be tried again). */
  preload: () => Promise<unknown>;
  loaded?: ComponentType;
  Lazy: ComponentType;
}

export function lazyPage(load: () => Promise<{ default: ComponentType }>): LazyPage {
  let loading: Promise<{ default: ComponentType }> | undefined;
  const page: LazyPage = {
    preload: () =>
      (loading ??= load().then(
        (module) => {
          page.loaded = module.default;
          return module;
        },
        (error) => {
          loading = undefined;
          throw error;
        },
      )),
    Lazy: lazy(() => page.preload() as Promise<{ default: ComponentType }>),
  };
  return page;
}

/** A route's page: its code if loaded, else React's lazy component (chosen once per page shown). */
export function PageOf({ page }: { page: LazyPage }) {
  // The choice holds while the page stays: switching from Lazy to the loaded code would remount it.
  const Component = useMemo(() => page.loaded ?? page.Lazy, [page]);
  return <Component />;
}
