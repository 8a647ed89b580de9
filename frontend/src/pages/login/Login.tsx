import { useEffect, useRef, useState, type FormEvent } from "react";
import { asApiError, type ApiError } from "../../api";
import { changePassword } from "../../api/auth";
import { useAuth } from "../../auth";
import { ErrorBanner } from "../../components/feedback";
import { Field, PasswordField, SubmitButton } from "../../components/forms";

/** The sign-in card; the learner pages give it their own title and words. */
export function LoginPage({
  title = "Questbridge admin",
  intro = "Sign in to manage your organization's integrations.",
}: {
  title?: string;
  intro?: string;
}) {
  const { login, error: sessionError } = useAuth();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError>();
  const emailInput = useRef<HTMLInputElement>(null);

  useEffect(() => emailInput.current?.focus(), []);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await login(email.trim(), password);
    } catch (caught) {
      setError(asApiError(caught, "Sign-in failed"));
      setPassword("");
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="login-page">
      <main className="login-card" id="main">
        <h1>{title}</h1>
        <p className="muted">{intro}</p>
        <ErrorBanner error={error ?? sessionError} fields={["email", "password"]} />
        <form onSubmit={submit} noValidate>
          <Field label="Email" name="email" error={error}>
            {(props) => (
              <input
                {...props}
                ref={emailInput}
                type="email"
                name="email"
                autoComplete="username"
                required
                value={email}
                onChange={(event) => setEmail(event.target.value)}
              />
            )}
          </Field>
          <PasswordField label="Password" autoComplete="current-password" value={password} onChange={setPassword} error={error} />
          <SubmitButton block busy={busy} busyLabel="Signing in…">
            Sign in
          </SubmitButton>
        </form>
      </main>
    </div>
  );
}

/** A password an admin set (or a leaked one) must be replaced before anything else works. */
export function ChangePasswordPage() {
  const { me, refresh, logout } = useAuth();
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError>();

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await changePassword(current, next);
      await refresh();
    } catch (caught) {
      setError(asApiError(caught, "Could not change the password"));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="login-page">
      <main className="login-card" id="main">
        <h1>Choose a new password</h1>
        <p className="muted">{me?.email} must set a new password before continuing.</p>
        <ErrorBanner error={error} fields={["current_password", "new_password"]} />
        <form onSubmit={submit} noValidate>
          <Field label="Current password" name="current_password" error={error}>
            {(props) => (
              <input {...props} type="password" autoComplete="current-password" value={current} onChange={(e) => setCurrent(e.target.value)} />
            )}
          </Field>
          <Field label="New password" name="new_password" error={error}>
            {(props) => (
              <input {...props} type="password" autoComplete="new-password" value={next} onChange={(e) => setNext(e.target.value)} />
            )}
          </Field>
          <SubmitButton block busy={busy} busyLabel="Saving…">
            Change password
          </SubmitButton>
          <button type="button" className="button button-block" onClick={() => void logout()}>
            Log out
          </button>
        </form>
      </main>
    </div>
  );
}
