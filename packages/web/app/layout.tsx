/** The frame of every page: a skip link, the top bar (places, the user, sign out), the page. */
import { Component, type ErrorInfo, type ReactNode, useEffect, useState } from "react";
import { Link } from "wouter";
import { useSignOut, useUser } from "./session.tsx";

export function Layout({ children }: { children: ReactNode }) {
  const user = useUser();
  const signOut = useSignOut();
  const [signOutError, setSignOutError] = useState<string>();
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <Link href="/" className="brand">
          Gyre
        </Link>
        <nav aria-label="Main">
          <Link href="/">Pipelines</Link>
          <Link href="/projects">Projects</Link>
          {user.role === "admin" && <Link href="/admin">Admin</Link>}
        </nav>
        <span className="who">
          <span>
            Signed in as{" "}
            <Link href="/settings/user">
              <strong>{user.login}</strong>
            </Link>
          </span>
          <button type="button" onClick={() => signOut().catch((e: Error) => setSignOutError(e.message))}>
            Sign out
          </button>
        </span>
      </header>
      {signOutError && (
        <p role="alert" className="error banner">
          Signing out failed: {signOutError}. Your session may still be open; try again.
        </p>
      )}
      <main id="main" tabIndex={-1}>
        <PageBoundary>{children}</PageBoundary>
      </main>
    </>
  );
}

/** The window's title: what the page shows, then Gyre (tabs, history and bookmarks tell pages apart). */
export function useTitle(...parts: (string | number | undefined | null)[]) {
  const title = [...parts.filter((p) => p !== undefined && p !== null && p !== ""), "Gyre"].join(" · ");
  useEffect(() => {
    document.title = title;
  }, [title]);
}

export function NotFound() {
  useTitle("Not found");
  return (
    <section>
      <h1>Not found</h1>
      <p>
        Nothing is here. <Link href="/">All pipelines</Link>
      </p>
    </section>
  );
}

/** What a failed read shows in place of its part of the page. */
export function Failure({ error }: { error: Error }) {
  return (
    <p role="alert" className="error">
      {error.message}
    </p>
  );
}

/** Breadcrumbs: project › pipeline › workflow › job, each a link but the last. */
export function Crumbs({ items }: { items: { label: string; href?: string }[] }) {
  return (
    <nav aria-label="Breadcrumbs" className="crumbs">
      <ol>
        {items.map((item, i) => (
          <li key={`${item.href ?? ""}|${item.label}`}>
            {item.href && i < items.length - 1 ? (
              <Link href={item.href}>{item.label}</Link>
            ) : (
              <span aria-current={i === items.length - 1 ? "page" : undefined}>{item.label}</span>
            )}
          </li>
        ))}
      </ol>
    </nav>
  );
}

/**
 * A page that throws while rendering shows what happened, not a blank app. A page's code that is
 * gone (a deploy replaced the built files while this tab was open) reloads the app instead.
 */
class PageBoundary extends Component<{ children: ReactNode }, { error?: Error }> {
  override state: { error?: Error } = {};
  static getDerivedStateFromError(error: Error) {
    return { error };
  }
  override componentDidCatch(error: Error, info: ErrorInfo) {
    console.error("gyre: the page failed", error, info.componentStack);
  }
  override render() {
    if (!this.state.error) return this.props.children;
    return (
      <section>
        <h1>This page failed</h1>
        <p role="alert" className="error">
          {this.state.error.message}
        </p>
        <button type="button" onClick={() => window.location.reload()}>
          Reload
        </button>
      </section>
    );
  }
}
