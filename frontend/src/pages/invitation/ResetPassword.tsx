// /reset-password: choose a new password from an emailed link, and be signed in.
import { useState, type FormEvent } from "react";
import { Navigate } from "react-router-dom";
import { resetPassword } from "../../api/auth";
import { Field } from "../../components/forms";
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
        <Field label="New password" name="password" error={reset.error} hint="At least 10 characters; a passphrase is best.">
          {(props) => (
            <input
              {...props}
              type="password"
              name="password"
              autoComplete="new-password"
              required
              value={password}
              onChange={(event) => setPassword(event.target.value)}
            />
          )}
        </Field>
        <button type="submit" className="button button-primary button-block" disabled={reset.busy}>
          {reset.busy ? "Saving…" : "Set password and sign in"}
        </button>
      </form>
    </LinkCard>
  );
}
