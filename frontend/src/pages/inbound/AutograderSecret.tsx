// The organization's own autograder secret: issue it, rotate it with a grace period.
import { useState } from "react";
import { AUTOGRADER_SECRETS_PATH, rotateAutograderSecret, type AutograderSecret } from "../../api/inbound";
import type { Organization } from "../../api/auth";
import { Time } from "../../components/display";
import { ErrorBanner, LoadState } from "../../components/feedback";
import { DEFAULT_GRACE_SECONDS, RotateSecretDialog } from "../../components/GraceChoices";
import { SecretReveal } from "../../components/SecretReveal";
import { useAction, useApi } from "../../hooks";

/** The organization's own autograder secret: it grades this organization's submissions only. */
export function AutograderSecretPanel({ organization }: { organization: Organization }) {
  const current = useApi<AutograderSecret>(AUTOGRADER_SECRETS_PATH, { organization_id: organization.id });
  const [dialog, setDialog] = useState(false);
  const [grace, setGrace] = useState(DEFAULT_GRACE_SECONDS);
  const [revealed, setRevealed] = useState<string>();
  const rotate = useAction((graceSeconds: number) => rotateAutograderSecret(organization.id, graceSeconds));

  async function issue(graceSeconds: number) {
    const result = await rotate.run(graceSeconds);
    if (result) {
      setRevealed(result.secret);
      setDialog(false);
      void current.reload();
    }
  }

  const data = current.data;
  return (
    <section className="panel" aria-labelledby="autograder-secret-heading" data-testid="autograder-secret">
      <div className="panel-header">
        <h2 id="autograder-secret-heading">Autograder secret</h2>
        {data &&
          (data.configured ? (
            <button type="button" className="button button-small" onClick={() => setDialog(true)}>
              Rotate secret…
            </button>
          ) : (
            <button type="button" className="button button-small button-primary" disabled={rotate.busy} onClick={() => issue(0)}>
              {rotate.busy ? "Creating…" : "Create secret"}
            </button>
          ))}
      </div>
      <p className="muted">
        An autograder that signs its grades with this secret can grade only {organization.name}&apos;s submissions. The
        platform&apos;s own autograder secret keeps grading every organization.
      </p>
      {revealed && (
        <SecretReveal label="Autograder secret" secret={revealed} onDone={() => setRevealed(undefined)}>
          <p>
            Sign each grade with it: <code>X-Autograder-Signature: hex HMAC-SHA256(secret, raw body)</code>.
          </p>
        </SecretReveal>
      )}
      {!dialog && <ErrorBanner error={rotate.error} />}
      <LoadState what="Autograder secret" loading={current.loading} error={current.error} hasData={Boolean(data)} onRetry={current.reload}>
        {data && data.configured && (
          <dl className="facts">
            <dt>Created</dt>
            <dd>
              <Time value={data.created_at} />
            </dd>
            <dt>Last rotated</dt>
            <dd>
              <Time value={data.rotated_at} />
            </dd>
            <dt>Previous secret verifies until</dt>
            <dd>{data.previous_secret_expires_at ? <Time value={data.previous_secret_expires_at} /> : "—"}</dd>
          </dl>
        )}
        {data && !data.configured && <p>This organization has no autograder secret of its own yet.</p>}
      </LoadState>
      {dialog && (
        <RotateSecretDialog
          title="Rotate the autograder secret"
          legend="Keep accepting the old secret for"
          errorId="autograder-grace-error"
          grace={grace}
          onGraceChange={setGrace}
          action={rotate}
          onCancel={() => setDialog(false)}
          onConfirm={() => issue(grace)}
        >
          <p>
            Rotating issues a new secret. During the grace period grades signed with either secret are accepted, so the
            autograder can switch without refused grades.
          </p>
        </RotateSecretDialog>
      )}
    </section>
  );
}
