import { useEffect, useId, useState } from "react";
import { NavLink, Outlet, useLocation } from "react-router-dom";
import { useAuth } from "../auth";
import { InvitationPrompt } from "./InvitationPrompt";

export const NAV_ITEMS = [
  { to: "/", label: "Dashboard", end: true },
  { to: "/subscriptions", label: "Subscriptions" },
  { to: "/deliveries", label: "Deliveries" },
  { to: "/api-keys", label: "API keys" },
  { to: "/oauth-clients", label: "OAuth clients" },
  { to: "/lti-platforms", label: "LMS platforms" },
  { to: "/inbound", label: "Inbound events" },
  { to: "/members", label: "Members" },
  { to: "/audit", label: "Audit log" },
];

export function OrganizationSwitcher() {
  const { me, organization, selectOrganization } = useAuth();
  const id = useId();
  const organizations = me?.organizations ?? [];
  if (organizations.length <= 1) {
    return organization ? (
      <span className="org-name" title="Organization">
        {organization.name}
      </span>
    ) : null;
  }
  return (
    <div className="org-switcher">
      <label htmlFor={id} className="visually-hidden-phone">
        Organization
      </label>
      <select id={id} value={organization?.id ?? ""} onChange={(event) => selectOrganization(event.target.value)}>
        {organizations.map((org) => (
          <option key={org.id} value={org.id}>
            {org.name}
            {org.role !== "admin" ? ` (${org.role})` : ""}
          </option>
        ))}
      </select>
    </div>
  );
}

/** The first thing Tab reaches: straight to the page's <main id="main">. */
export function SkipLink() {
  return (
    <a className="skip-link" href="#main">
      Skip to content
    </a>
  );
}

/** Who is signed in, and Log out: the top bar's right end, in the admin and the learner pages. */
/** The signed-in email (a link to one's profile where the area has that page) and Log out. */
export function SignedInAs({ profile = false }: { profile?: boolean }) {
  const { me, logout } = useAuth();
  return (
    <>
      {profile ? (
        <NavLink className="user-email" title="Signed in as: your profile" to="/profile">
          {me?.email}
        </NavLink>
      ) : (
        <span className="user-email" title="Signed in as">
          {me?.email}
        </span>
      )}
      <button type="button" className="button button-small" onClick={() => void logout()}>
        Log out
      </button>
    </>
  );
}

export function Layout() {
  const { organization } = useAuth();
  const [menuOpen, setMenuOpen] = useState(false);
  const location = useLocation();
  const navId = useId();

  useEffect(() => setMenuOpen(false), [location.pathname]);

  return (
    <div className="shell">
      <SkipLink />
      <header className="topbar">
        <button
          type="button"
          className="menu-button"
          aria-expanded={menuOpen}
          aria-controls={navId}
          onClick={() => setMenuOpen((open) => !open)}
        >
          <span aria-hidden="true">☰</span> Menu
        </button>
        <span className="brand">Questbridge</span>
        <div className="topbar-right">
          <OrganizationSwitcher />
          <SignedInAs profile />
        </div>
      </header>
      <nav
        id={navId}
        className={`sidebar${menuOpen ? " open" : ""}`}
        aria-label="Main"
        onKeyDown={(event) => event.key === "Escape" && menuOpen && setMenuOpen(false)}
      >
        <ul>
          {NAV_ITEMS.map((item) => (
            <li key={item.to}>
              <NavLink to={item.to} end={item.end} onClick={() => setMenuOpen(false)}>
                {item.label}
              </NavLink>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" className="content" tabIndex={-1}>
        <InvitationPrompt />
        {organization && organization.role !== "admin" && (
          <div className="alert alert-info" role="note">
            You are a {organization.role} of {organization.name}: most of these pages need an organization admin.
          </div>
        )}
        {organization ? (
          // Keyed by organization, so switching starts every page afresh.
          <Outlet key={organization.id} />
        ) : (
          <div className="empty">
            <p className="empty-title">You are not a member of any organization</p>
            <p className="empty-body">Ask an organization admin to invite you, then accept the invitation.</p>
          </div>
        )}
      </main>
    </div>
  );
}
