// /subscriptions/:id: a subscription's settings, test sends, signing secret and deletion.
import { useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import {
  deleteSubscription,
  redeliverDeadOfSubscription,
  rotateSubscriptionSecret,
  sendTestEvent,
  subscriptionPath,
  updateSubscription,
  type Subscription,
  type SubscriptionFields,
  type TestSendResult,
} from "../../api/subscriptions";
import { ConfirmDialog } from "../../components/Dialog";
import { Time } from "../../components/display";
import { ErrorBanner, LoadState, Notice, PageTitle } from "../../components/feedback";
import { DEFAULT_GRACE_SECONDS, RotateSecretDialog } from "../../components/GraceChoices";
import { SecretReveal } from "../../components/SecretReveal";
import { useAction, useApi } from "../../hooks";
import { SubscriptionForm } from "./Form";
import { SubscriptionState } from "./parts";
import { TestResult } from "./TestResult";

export function SubscriptionDetailPage() {
  const { id = "" } = useParams();
  const navigate = useNavigate();
  const subscription = useApi<Subscription>(subscriptionPath(id));
  const [notice, setNotice] = useState<string>();
  const [dialog, setDialog] = useState<"delete" | "rotate" | "redeliver" | null>(null);
  const [grace, setGrace] = useState(DEFAULT_GRACE_SECONDS);
  const [newSecret, setNewSecret] = useState<string>();
  const [testResult, setTestResult] = useState<TestSendResult>();
  const [formKey, setFormKey] = useState(0);

  const save = useAction((values: SubscriptionFields) => updateSubscription(id, values));
  const remove = useAction(() => deleteSubscription(id));
  const rotate = useAction((graceSeconds: number) => rotateSubscriptionSecret(id, graceSeconds));
  const redeliverDead = useAction(() => redeliverDeadOfSubscription(id));
  const sendTest = useAction(() => sendTestEvent(id));

  const data = subscription.data;
  return (
    <>
      <PageTitle
        actions={
          data && (
            <Link className="button" to={`/deliveries?subscription_id=${data.id}`}>
              View deliveries
            </Link>
          )
        }
      >
        Subscription
      </PageTitle>
      <p className="breadcrumbs">
        <Link to="/subscriptions">← All subscriptions</Link>
      </p>
      <LoadState
        what="Subscription"
        loading={subscription.loading}
        error={subscription.error}
        hasData={Boolean(data)}
        onRetry={subscription.reload}
        notFoundHint="It may have been deleted."
      >
        {data && (
          <>
            <Notice>{notice}</Notice>
            <div className="grid-2 grid-wide-left">
              <section className="panel" aria-labelledby="edit-heading">
                <h2 id="edit-heading">Settings</h2>
                <dl className="facts">
                  <dt>Id</dt>
                  <dd>
                    <code>{data.id}</code>
                  </dd>
                  <dt>State</dt>
                  <dd>
                    <SubscriptionState subscription={data} />
                  </dd>
                  <dt>Created</dt>
                  <dd>
                    <Time value={data.created_at} />
                  </dd>
                  {data.previous_secret_expires_at && (
                    <>
                      <dt>Old secret valid until</dt>
                      <dd>
                        <Time value={data.previous_secret_expires_at} />
                      </dd>
                    </>
                  )}
                </dl>
                <SubscriptionForm
                  key={formKey}
                  initial={{
                    target_url: data.target_url,
                    description: data.description ?? "",
                    event_types: data.event_types,
                    active: data.active,
                  }}
                  showActive
                  submitLabel="Save changes"
                  busy={save.busy}
                  error={save.error}
                  onSubmit={async (values) => {
                    setNotice(undefined);
                    const updated = await save.run(values);
                    if (updated) {
                      setNotice("Subscription saved.");
                      await subscription.reload();
                      setFormKey((key) => key + 1);
                    }
                  }}
                />
              </section>

              <div className="stack">
                <section className="panel" aria-labelledby="test-heading">
                  <h2 id="test-heading">Test event</h2>
                  <p className="muted">
                    Queues a <code>webhook.test</code> event for the target URL and shows the receiver&rsquo;s answer when it
                    comes back within a moment.
                  </p>
                  <button
                    type="button"
                    className="button button-primary"
                    disabled={sendTest.busy}
                    onClick={async () => {
                      setTestResult(undefined);
                      const result = await sendTest.run();
                      if (result) setTestResult(result);
                    }}
                  >
                    {sendTest.busy ? "Sending…" : "Send test event"}
                  </button>
                  <ErrorBanner error={sendTest.error} />
                  {testResult && <TestResult result={testResult} />}
                </section>

                <section className="panel" aria-labelledby="secret-heading">
                  <h2 id="secret-heading">Signing secret</h2>
                  <p className="muted">
                    Rotating issues a new secret. During the grace period both secrets sign each delivery, so the
                    receiver can switch without dropping any.
                  </p>
                  {newSecret ? (
                    <SecretReveal label="New signing secret" secret={newSecret} onDone={() => setNewSecret(undefined)} />
                  ) : (
                    <button type="button" className="button" onClick={() => setDialog("rotate")}>
                      Rotate secret…
                    </button>
                  )}
                </section>

                <section className="panel" aria-labelledby="danger-heading">
                  <h2 id="danger-heading">Dead deliveries and deletion</h2>
                  <div className="button-row">
                    <button type="button" className="button" onClick={() => setDialog("redeliver")}>
                      Redeliver dead…
                    </button>
                    <button type="button" className="button button-danger" onClick={() => setDialog("delete")}>
                      Delete subscription…
                    </button>
                  </div>
                </section>
              </div>
            </div>
          </>
        )}
      </LoadState>

      {dialog === "delete" && data && (
        <ConfirmDialog
          title="Delete this subscription?"
          confirmLabel="Delete"
          danger
          action={remove}
          onCancel={() => setDialog(null)}
          onConfirm={async () => {
            const result = await remove.run();
            if (result !== undefined) navigate("/subscriptions", { replace: true });
          }}
        >
          <p>
            <span className="url">{data.target_url}</span> will stop receiving events. Its delivery history is deleted
            too. This cannot be undone.
          </p>
        </ConfirmDialog>
      )}

      {dialog === "redeliver" && (
        <ConfirmDialog
          title="Redeliver dead deliveries?"
          confirmLabel="Redeliver"
          action={redeliverDead}
          onCancel={() => setDialog(null)}
          onConfirm={async () => {
            const result = await redeliverDead.run();
            if (result) {
              setDialog(null);
              setNotice(
                result.count === 0
                  ? "There were no dead deliveries to redeliver."
                  : `${result.count} dead ${result.count === 1 ? "delivery" : "deliveries"} queued again.`,
              );
            }
          }}
        >
          <p>Every dead delivery of this subscription is queued again, with the same webhook-id.</p>
        </ConfirmDialog>
      )}

      {dialog === "rotate" && (
        <RotateSecretDialog
          title="Rotate the signing secret"
          legend="Keep signing with the old secret for"
          errorId="grace-error"
          grace={grace}
          onGraceChange={setGrace}
          action={rotate}
          onCancel={() => setDialog(null)}
          onConfirm={async () => {
            const result = await rotate.run(grace);
            if (result) {
              setNewSecret(result.secret);
              setDialog(null);
              void subscription.reload();
            }
          }}
        />
      )}
    </>
  );
}
