// /invitation: answer an emailed invitation, signed in or not.
import { useEffect, useState, type FormEvent } from "react";
import { Link, Navigate } from "react-router-dom";
import { asApiError, type ApiError } from "../../api";
import {
  acceptInvitationLink,
  declineInvitationLink,
  lookupInvitation,
  type InvitationPreview,
} from "../../api/invitations";
import { useAuth } from "../../auth";
import { Time } from "../../components/display";
import { inviterName } from "../../components/InvitationPrompt";
import { ErrorBanner, Loading } from "../../components/feedback";
import { Field, PasswordField, SubmitButton } from "../../components/forms";
import { useAction } from "../../hooks";
import { forgetLink, linkFinished, linkToken } from "../../linkToken";
import { LinkCard, LinkError, NoLink, sameEmail, useSignedInByLink } from "./link";

/** /invitation: the page an invitation email links to. Accept (choosing a password for a new
 * account, or signed in as the invited account) or decline. */
export function InvitationPage() {
  const token = linkToken("invitation");
  const { me, login, logout } = useAuth();
  const signedIn = useSignedInByLink();
  const [preview, setPreview] = useState<InvitationPreview>();
  const [lookupError, setLookupError] = useState<ApiError>();
  const [declined, setDeclined] = useState<string>();
  const [password, setPassword] = useState("");
  const [signInError, setSignInError] = useState<ApiError>();
  const [signingIn, setSigningIn] = useState(false);

  useEffect(() => {
    if (!token) return;
    const controller = new AbortController();
    lookupInvitation(token, controller.signal).then(setPreview, (error) => {
      if (!controller.signal.aborted) setLookupError(asApiError(error));
    });
    return () => controller.abort();
  }, [token]);

  const newAccount = preview ? !preview.account_exists : false;
  const accept = useAction(() => acceptInvitationLink(token, newAccount ? password : undefined));
  const decline = useAction(() => declineInvitationLink(token));

  if (linkFinished()) return <Navigate to="/" replace />;
  if (declined) {
    return (
      <LinkCard title="Invitation declined">
        <p>You declined to join {declined}. Nothing about you was shared with it.</p>
        <p>
          <Link to="/">{me ? "Go to the dashboard" : "Sign in"}</Link>
        </p>
      </LinkCard>
    );
  }
  if (!token) {
    return (
      <LinkCard title="Your invitation">
        <NoLink page="invitation" />
      </LinkCard>
    );
  }
  if (lookupError) {
    return (
      <LinkCard title="Your invitation">
        <LinkError error={lookupError} what="invitation" />
        <p>
          <Link to="/">{me ? "Go to the dashboard" : "Sign in"}</Link>
        </p>
      </LinkCard>
    );
  }
  if (!preview) {
    return (
      <LinkCard title="Your invitation">
        <Loading label="Opening your invitation…" />
      </LinkCard>
    );
  }

  const organization = preview.organization.name;
  const signedInAsInvitee = sameEmail(me?.email, preview.email);

  async function onAccept(event: FormEvent) {
    event.preventDefault();
    const result = await accept.run();
    if (result) await signedIn(result.organization.id);
  }

  async function onDecline() {
    if ((await decline.run()) !== undefined) {
      forgetLink();
      setDeclined(organization);
    }
  }

  async function onSignIn(event: FormEvent) {
    event.preventDefault();
    setSigningIn(true);
    setSignInError(undefined);
    try {
      await login(preview!.email, password);
    } catch (caught) {
      setSignInError(asApiError(caught));
      setPassword("");
    } finally {
      setSigningIn(false);
    }
  }

  const declineButton = (
    <button type="button" className="button button-block" onClick={() => void onDecline()} disabled={decline.busy || accept.busy}>
      {decline.busy ? "Declining…" : "Decline"}
    </button>
  );

  return (
    <LinkCard title={`Join ${organization}`}>
      <p>
        {inviterName(preview.invited_by)} invited <strong>{preview.email}</strong> to join <strong>{organization}</strong> on
        Questbridge as {preview.role}. You join only if you accept.
      </p>
      <p className="muted small">
        The invitation expires <Time value={preview.expires_at} />.
      </p>
      {accept.error && <LinkError error={accept.error} what="invitation" />}
      <ErrorBanner error={decline.error} />

      {newAccount ? (
        <form onSubmit={onAccept} noValidate>
          {me && (
            <p className="muted">
              You are signed in as {me.email}. Accepting creates a new account for {preview.email} and signs you in with it.
            </p>
          )}
          <input type="email" name="username" autoComplete="username" value={preview.email} readOnly hidden />
          <PasswordField label="Choose a password" autoComplete="new-password" value={password} onChange={setPassword} error={accept.error} />
          <SubmitButton block busy={accept.busy} disabled={decline.busy} busyLabel="Joining…">
            Accept and join
          </SubmitButton>
          {declineButton}
        </form>
      ) : signedInAsInvitee ? (
        <form onSubmit={onAccept} noValidate>
          <SubmitButton block busy={accept.busy} disabled={decline.busy} busyLabel="Joining…">
            {`Accept and join ${organization}`}
          </SubmitButton>
          {declineButton}
        </form>
      ) : me ? (
        <>
          <div className="alert alert-info" role="note">
            This invitation is for {preview.email}, but you are signed in as {me.email}. Log out, then sign in as{" "}
            {preview.email} to answer it.
          </div>
          <button type="button" className="button button-block" onClick={() => void logout()}>
            Log out
          </button>
          {declineButton}
        </>
      ) : (
        <form onSubmit={onSignIn} noValidate>
          <p className="muted">{preview.email} already has a Questbridge account: sign in to accept.</p>
          <ErrorBanner error={signInError} fields={["password"]} />
          <Field label="Email" name="email">
            {(props) => <input {...props} type="email" name="email" autoComplete="username" value={preview.email} readOnly />}
          </Field>
          <PasswordField label="Password" autoComplete="current-password" value={password} onChange={setPassword} error={signInError} />
          <SubmitButton block busy={signingIn} busyLabel="Signing in…">
            Sign in to accept
          </SubmitButton>
          {declineButton}
        </form>
      )}
    </LinkCard>
  );
}
