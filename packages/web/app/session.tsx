/**
 * Who is signed in: the session the API's sign-in flows made (GitHub, LDAP, or a personal token
 * locally), read from GET /api/gyre/auth/session. Without one the sign-in page shows; pages see
 * the user through `useUser()` and offer only what that user may do.
 */
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { createContext, type FormEvent, type ReactNode, useContext, useState } from "react";
import { ApiError, api, setCsrfToken } from "./api.ts";
import type { Session, SignInMethods, User } from "./types.ts";

const UserContext = createContext<User | undefined>(undefined);

export function useUser(): User {
  const user = useContext(UserContext);
  if (!user) throw new Error("useUser outside a session");
  return user;
}

export const SESSION_KEY = ["session"];

/** The session read (main.tsx starts it before the first draw; the gate finds it under way). */
export const sessionQuery = {
  queryKey: SESSION_KEY,
  queryFn: async (): Promise<Session | null> => {
    try {
      const s = await api.get<Session>("/api/gyre/auth/session");
      setCsrfToken(s.csrf_token);
      return s;
    } catch (error) {
      if (error instanceof ApiError && (error.status === 401 || error.status === 400)) return null;
      throw error;
    }
  },
  staleTime: 60_000,
  retry: 1,
};

export function SessionGate({ children }: { children: ReactNode }) {
  const session = useQuery(sessionQuery);
  if (session.isPending)
    return (
      <main className="centered" aria-busy="true">
        <p>Loading…</p>
      </main>
    );
  if (session.isError)
    return (
      <main className="centered">
        <p role="alert">Gyre did not answer: {session.error.message}</p>
      </main>
    );
  if (!session.data) return <SignIn />;
  return <UserContext.Provider value={session.data.user}>{children}</UserContext.Provider>;
}

/**
 * Signs out, then loads the page afresh: nothing read as the user stays in memory. A session
 * the server no longer knows (401) is as good as signed out; any other failure is thrown, for
 * the page to say so.
 */
export function useSignOut() {
  return async () => {
    try {
      await api.post("/api/gyre/auth/logout");
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) throw error;
    }
    setCsrfToken(undefined);
    window.location.assign("/");
  };
}

function SignIn() {
  const client = useQueryClient();
  const methods = useQuery({
    queryKey: ["sign-in-methods"],
    queryFn: () => api.get<SignInMethods>("/api/gyre/auth/methods"),
  });
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const signedIn = () => client.invalidateQueries({ queryKey: SESSION_KEY });

  const submit =
    (path: string, body: (form: FormData) => Record<string, string>) =>
    async (event: FormEvent<HTMLFormElement>) => {
      event.preventDefault();
      const form = new FormData(event.currentTarget);
      setBusy(true);
      setError(undefined);
      try {
        await api.post(path, body(form));
        await signedIn();
      } catch (e) {
        setError((e as Error).message);
      } finally {
        setBusy(false);
      }
    };
  const text = (form: FormData, name: string) => String(form.get(name) ?? "");
  const returnTo = encodeURIComponent(location.pathname + location.search + location.hash);

  return (
    <main className="sign-in">
      <h1>Sign in to Gyre</h1>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {methods.data?.github && (
        <a className="button primary" href={`/api/gyre/auth/github?return_to=${returnTo}`}>
          Sign in with GitHub
        </a>
      )}
      {methods.data?.ldap && (
        <form
          aria-label="Sign in with LDAP"
          onSubmit={submit("/api/gyre/auth/ldap", (f) => ({
            username: text(f, "username"),
            password: text(f, "password"),
          }))}
        >
          <label>
            Username <input name="username" autoComplete="username" required />
          </label>
          <label>
            Password <input name="password" type="password" autoComplete="current-password" required />
          </label>
          <button type="submit" className="primary" disabled={busy}>
            Sign in
          </button>
        </form>
      )}
      {methods.data?.token && (
        <form
          aria-label="Sign in with a token"
          onSubmit={submit("/api/gyre/auth/token", (f) => ({ token: text(f, "token") }))}
        >
          <label>
            Personal API token <input name="token" type="password" autoComplete="off" required />
          </label>
          <button type="submit" disabled={busy}>
            Sign in with token
          </button>
          <p className="hint">
            Locally, <code>gyre start</code> prints the administrator's token; <code>gyre token create</code>{" "}
            makes more.
          </p>
        </form>
      )}
    </main>
  );
}
