/**
 * The installation's administration, for administrators: users, the builder fleet and its
 * queues, the settings, the audit log and the usage statistics, each a section at its own path
 * (`/admin/<section>`). Everything is read and changed through the API (Gyre's own under
 * /api/gyre, the Nomad API for the fleet), which answers 403 to anyone else; the page says so
 * first, from the session's role.
 */
import { Link, Redirect, useParams } from "wouter";
import { Crumbs, NotFound, useTitle } from "../layout.tsx";
import { useUser } from "../session.tsx";
import { AuditSection } from "./admin/audit.tsx";
import { FleetSection } from "./admin/fleet.tsx";
import { SettingsSection } from "./admin/settings.tsx";
import { UsageSection } from "./admin/usage.tsx";
import { UsersSection } from "./admin/users.tsx";
import "./admin.css";

const SECTIONS = [
  { id: "users", label: "Users", component: UsersSection },
  { id: "fleet", label: "Fleet", component: FleetSection },
  { id: "settings", label: "Settings", component: SettingsSection },
  { id: "audit", label: "Audit log", component: AuditSection },
  { id: "usage", label: "Usage", component: UsageSection },
] as const;

export const adminHref = (section: string) => `/admin/${section}`;

export default function AdminPage() {
  const user = useUser();
  const { section } = useParams<{ section?: string }>();
  useTitle(section ? `Admin: ${section}` : "Admin");
  if (user.role !== "admin") return <AdministratorsOnly />;
  if (!section) return <Redirect to={adminHref("users")} replace />;
  const current = SECTIONS.find((s) => s.id === section);
  if (!current) return <NotFound />;
  const Section = current.component;
  return (
    <section className="admin">
      <Crumbs items={[{ label: "Admin", href: adminHref("users") }, { label: current.label }]} />
      <h1>Admin: {current.label}</h1>
      <nav aria-label="Admin sections" className="admin-nav">
        <ul>
          {SECTIONS.map((s) => (
            <li key={s.id}>
              <Link href={adminHref(s.id)} aria-current={s.id === section ? "page" : undefined}>
                {s.label}
              </Link>
            </li>
          ))}
        </ul>
      </nav>
      <Section />
    </section>
  );
}

function AdministratorsOnly() {
  return (
    <section className="admin">
      <h1>Administrators only</h1>
      <p role="alert" className="error">
        The Admin pages are for this installation's administrators, and you are not one.
      </p>
      <p>
        An administrator can make you one (<code>gyre user role &lt;login&gt; admin</code>).{" "}
        <Link href="/">Back to the pipelines</Link>
      </p>
    </section>
  );
}
