// /reset-password: choose a new password from an emailed link, and be signed in.
import { useState, type FormEvent } from "react";
import { Navigate } from "react-router-dom";
import { resetPassword } from "../../api/auth";
import { PasswordField, SubmitButton } from "../../components/forms";
import { useAction } from "../../hooks";
import { linkFinished, linkToken } from "../../linkToken";
import { LinkCard, LinkError, NoLink, useSignedInByLink } from "./link";

/** /reset-password: the page an admin-asked reset email links to; it signs the person in. */
export function ResetPasswordPage() {
  const token = linkToken("reset-password");
  const signedIn = useSignedInByLink();
  const [password, setPassword] = useState("");
  const reset = useAction(() => resetPassword(token, password));

  if (linkFinished()) return <Navigate to="/" replace />;
  if (!token) {
    return (
      <LinkCard title="Choose a new password">
        <NoLink page="reset-password" />
      </LinkCard>
    );
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    if ((await reset.run()) !== undefined) await signedIn();
  }

  return (
    <LinkCard title="Choose a new password">
      <p className="muted">Your new password replaces the old one and signs you out everywhere else.</p>
      {reset.error && <LinkError error={reset.error} what="reset" />}
      <form onSubmit={submit} noValidate>
        <PasswordField label="New password" autoComplete="new-password" value={password} onChange={setPassword} error={reset.error} />
        <SubmitButton block busy={reset.busy} busyLabel="Saving…">
          Set password and sign in
        </SubmitButton>
      </form>
    </LinkCard>
  );
}
