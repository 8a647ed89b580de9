// What the pages that emailed links open share: their card, and what a used or missing link says.
import type { ReactNode } from "react";
import { Link, useNavigate } from "react-router-dom";
import type { ApiError } from "../../api";
import { useAuth } from "../../auth";
import { ErrorBanner } from "../../components/feedback";
import { finishLink, type LinkPage } from "../../linkToken";

export function sameEmail(a: string | undefined, b: string | undefined): boolean {
  return Boolean(a && b && a.trim().toLowerCase() === b.trim().toLowerCase());
}

/** After a link signed the person in: forget its token, show the organization, go to the dashboard. */
export function useSignedInByLink() {
  const { refresh, selectOrganization } = useAuth();
  const navigate = useNavigate();
  return async (organizationId?: string) => {
    finishLink();
    if (organizationId) selectOrganization(organizationId);
    await refresh();
    navigate("/", { replace: true });
  };
}

/** The card the emailed links open, signed in or not. */
export function LinkCard({ title, children }: { title: string; children: ReactNode }) {
  return (
    <div className="login-page">
      <main className="login-card" id="main">
        <h1>{title}</h1>
        {children}
      </main>
    </div>
  );
}

export function NoLink({ page }: { page: LinkPage }) {
  const { me } = useAuth();
  return (
    <>
      <p>
        This page opens from the link in your {page === "invitation" ? "invitation" : "password reset"} email. For your
        safety the link works only once and is not kept: open it from the email again, or ask your organization admin
        to send a new one.
      </p>
      <p>
        <Link to="/">{me ? "Go to the dashboard" : "Sign in"}</Link>
      </p>
    </>
  );
}

/** A link that no longer works, in words a person can act on. */
export function LinkError({ error, what }: { error: ApiError; what: string }) {
  if (error.fieldMessages("token").length) {
    return (
      <div className="alert alert-error" role="alert">
        <p className="alert-title">This {what} link no longer works</p>
        <p>It is invalid, has expired or was already used. Ask your organization admin to send a new one.</p>
      </div>
    );
  }
  return <ErrorBanner error={error} fields={["password"]} />;
}
