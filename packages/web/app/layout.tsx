/** The frame of every page: a skip link, the top bar (places, the user, sign out), the page. */
import type { ReactNode } from "react";
import { Link } from "wouter";
import { useSignOut, useUser } from "./session.tsx";

export function Layout({ children }: { children: ReactNode }) {
  const user = useUser();
  const signOut = useSignOut();
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
          {user.role === "admin" && <Link href="/admin">Admin</Link>}
        </nav>
        <span className="who">
          <span>
            Signed in as <strong>{user.login}</strong>
          </span>
          <button type="button" onClick={() => void signOut()}>
            Sign out
          </button>
        </span>
      </header>
      <main id="main" tabIndex={-1}>
        {children}
      </main>
    </>
  );
}

export function NotFound() {
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
