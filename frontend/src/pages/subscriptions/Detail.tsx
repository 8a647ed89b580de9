import { useState, type FormEvent } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { api, type ApiError, type EventType, type Subscription, type TestSendResult } from "../../api";
import { useOrganization } from "../../auth";
import { ConfirmDialog, Dialog } from "../../components/Dialog";
import { formatMs, StatusBadge, Time } from "../../components/display";
import { EventTypePicker, normalizeTypes } from "../../components/EventTypePicker";
import { Empty, ErrorBanner, LoadMore, LoadState, Notice, PageTitle } from "../../components/feedback";
import { Field, FieldMessages, hasFieldError } from "../../components/forms";
import { DEFAULT_GRACE_SECONDS, GraceChoices } from "../../components/GraceChoices";
import { SecretReveal } from "../../components/SecretReveal";
import { useAction, useApi, usePagedList } from "../../hooks";

export function SubscriptionsPage() {
  const organization = useOrganization();
  const list = usePagedList<Subscription>("/api/webhooks/subscriptions", { organization_id: organization.id });

  return (
    <>
      <PageTitle
        actions={
          <Link className="button button-primary" to="/subscriptions/new">
            New subscription
          </Link>
        }
      >
        Subscriptions
      </PageTitle>
      <LoadState what="Subscriptions" loading={list.loading} error={list.error} hasData={Boolean(list.items)} onRetry={list.reload}>
        {list.items && list.items.length === 0 ? (
          <Empty title="No subscriptions yet">
            A subscription sends signed webhooks to a partner's URL when events happen.{" "}
            <Link to="/subscriptions/new">Create the first one</Link>.
          </Empty>
        ) : (
          <div className="table-wrap">
            <table className="table table-stack" data-testid="subscriptions-table">
              <thead>
                <tr>
                  <th scope="col">Target URL</th>
                  <th scope="col">Event types</th>
                  <th scope="col">State</th>
                  <th scope="col">Created</th>
                </tr>
              </thead>
              <tbody>
                {list.items?.map((subscription) => (
                  <tr key={subscription.id}>
                    <th scope="row" data-label="Target URL">
                      <Link to={`/subscriptions/${subscription.id}`} className="url">
                        {subscription.target_url}
                      </Link>
                      {subscription.description && <div className="muted small">{subscription.description}</div>}
                    </th>
                    <td data-label="Event types">
                      <TypeList types={subscription.event_types} />
                    </td>
                    <td data-label="State">
                      <SubscriptionState subscription={subscription} />
                    </td>
                    <td data-label="Created">
                      <Time value={subscription.created_at} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <LoadMore list={list} />
      </LoadState>
    </>
  );
}

function TypeList({ types }: { types: string[] }) {
  return (
    <span className="types">
      {types.map((type) => (
        <code key={type}>{type === "*" ? "* (every event)" : type}</code>
      ))}
    </span>
  );
}

function SubscriptionState({ subscription }: { subscription: Subscription }) {
  if (subscription.active) return <StatusBadge status="active" />;
  return (
    <>
      <StatusBadge status="disabled" />
      {subscription.disabled_reason && <div className="muted small">{subscription.disabled_reason}</div>}
    </>
  );
}

interface FormValues {
  target_url: string;
  description: string;
  event_types: string[];
  active: boolean;
}

function SubscriptionForm({
  initial,
  showActive,
  submitLabel,
  busy,
  error,
  onSubmit,
  onCancel,
}: {
  initial: FormValues;
  showActive: boolean;
  submitLabel: string;
  busy: boolean;
  error: ApiError | undefined;
  onSubmit: (values: FormValues) => void;
  onCancel?: () => void;
}) {
  const catalog = useApi<{ data: EventType[] }>("/api/webhooks/event-types");
  const [values, setValues] = useState(initial);
  const [localError, setLocalError] = useState<string>();
  const typesErrorId = "event-types-error";
  const typeFields = ["event_types", "event_type"];

  function submit(event: FormEvent) {
    event.preventDefault();
    if (!values.event_types.length) {
      setLocalError("Choose at least one event type.");
      return;
    }
    setLocalError(undefined);
    onSubmit({ ...values, target_url: values.target_url.trim(), event_types: normalizeTypes(values.event_types) });
  }

  const typesInvalid = Boolean(localError) || hasFieldError(error, typeFields);
  return (
    <form className="form" onSubmit={submit} noValidate>
      <ErrorBanner error={error} fields={["target_url", "description", "active", ...typeFields]} />
      <Field
        label="Target URL"
        name="target_url"
        error={error}
        hint="Where the signed POSTs go. HTTPS in production."
      >
        {(props) => (
          <input
            {...props}
            type="url"
            name="target_url"
            inputMode="url"
            required
            placeholder="https://lms.example.org/webhooks/questbridge"
            value={values.target_url}
            onChange={(event) => setValues({ ...values, target_url: event.target.value })}
          />
        )}
      </Field>
      <Field label="Description (optional)" name="description" error={error}>
        {(props) => (
          <input
            {...props}
            name="description"
            maxLength={500}
            value={values.description}
            onChange={(event) => setValues({ ...values, description: event.target.value })}
          />
        )}
      </Field>
      {catalog.error ? (
        <ErrorBanner error={catalog.error} onRetry={catalog.reload} />
      ) : (
        <EventTypePicker
          catalog={catalog.data?.data ?? []}
          value={values.event_types}
          onChange={(types) => setValues({ ...values, event_types: types })}
          describedBy={typesInvalid ? typesErrorId : undefined}
          invalid={typesInvalid}
        />
      )}
      {localError && (
        <div id={typesErrorId} className="field-error">
          {localError}
        </div>
      )}
      {!localError && <FieldMessages id={typesErrorId} error={error} name={typeFields} />}
      {showActive && (
        <label className="check check-strong">
          <input
            type="checkbox"
            name="active"
            checked={values.active}
            onChange={(event) => setValues({ ...values, active: event.target.checked })}
          />
          <span>
            Active
            <span className="check-hint">A disabled subscription receives nothing until it is enabled again.</span>
          </span>
        </label>
      )}
      <div className="form-actions">
        <button type="submit" className="button button-primary" disabled={busy}>
          {busy ? "Saving…" : submitLabel}
        </button>
        {onCancel && (
          <button type="button" className="button" onClick={onCancel}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}

export function NewSubscriptionPage() {
  const organization = useOrganization();
  const navigate = useNavigate();
  const [created, setCreated] = useState<Subscription>();
  const create = useAction((values: FormValues) =>
    api<Subscription>("/api/webhooks/subscriptions", {
      method: "POST",
      body: {
        organization_id: organization.id,
        target_url: values.target_url,
        event_types: values.event_types,
        description: values.description,
      },
    }),
  );

  if (created) {
    return (
      <>
        <PageTitle>Subscription created</PageTitle>
        <div className="panel">
          <p>
            Deliveries to <span className="url">{created.target_url}</span> are signed with this secret (Standard
            Webhooks, <code>webhook-signature</code> header).
          </p>
          {created.secret && (
            <SecretReveal label="Signing secret" secret={created.secret} onDone={() => navigate(`/subscriptions/${created.id}`)} />
          )}
          <p>
            <Link to={`/subscriptions/${created.id}`}>Open the subscription</Link> to send a test event.
          </p>
        </div>
      </>
    );
  }

  return (
    <>
      <PageTitle>New subscription</PageTitle>
      <div className="panel">
        <SubscriptionForm
          initial={{ target_url: "", description: "", event_types: [], active: true }}
          showActive={false}
          submitLabel="Create subscription"
          busy={create.busy}
          error={create.error}
          onSubmit={async (values) => {
            const subscription = await create.run(values);
            if (subscription) setCreated(subscription);
          }}
          onCancel={() => navigate("/subscriptions")}
        />
      </div>
    </>
  );
}

export function SubscriptionDetailPage() {
  const { id = "" } = useParams();
  const navigate = useNavigate();
  const subscription = useApi<Subscription>(`/api/webhooks/subscriptions/${encodeURIComponent(id)}`);
  const [notice, setNotice] = useState<string>();
  const [dialog, setDialog] = useState<"delete" | "rotate" | "redeliver" | null>(null);
  const [grace, setGrace] = useState(DEFAULT_GRACE_SECONDS);
  const [newSecret, setNewSecret] = useState<string>();
  const [testResult, setTestResult] = useState<TestSendResult>();
  const [formKey, setFormKey] = useState(0);

  const save = useAction((values: FormValues) =>
    api<Subscription>(`/api/webhooks/subscriptions/${id}`, {
      method: "PUT",
      body: {
        target_url: values.target_url,
        event_types: values.event_types,
        active: values.active,
        description: values.description,
      },
    }),
  );
  const remove = useAction(() => api(`/api/webhooks/subscriptions/${id}`, { method: "DELETE" }));
  const rotate = useAction((graceSeconds: number) =>
    api<{ secret: string }>(`/api/webhooks/subscriptions/${id}/rotate-secret`, {
      method: "POST",
      body: { grace_seconds: graceSeconds },
    }),
  );
  const redeliverDead = useAction(() =>
    api<{ count: number }>(`/api/webhooks/subscriptions/${id}/redeliver-dead`, { method: "POST", body: {} }),
  );
  const sendTest = useAction(() =>
    api<TestSendResult>("/api/webhooks/test", { method: "POST", body: { subscription_id: id } }),
  );

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
          busy={remove.busy}
          error={remove.error}
          onCancel={() => {
            remove.clearError();
            setDialog(null);
          }}
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
          busy={redeliverDead.busy}
          error={redeliverDead.error}
          onCancel={() => {
            redeliverDead.clearError();
            setDialog(null);
          }}
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
        <Dialog
          title="Rotate the signing secret"
          onClose={() => {
            rotate.clearError();
            setDialog(null);
          }}
          footer={
            <>
              <button type="button" className="button" onClick={() => setDialog(null)}>
                Cancel
              </button>
              <button
                type="button"
                className="button button-primary"
                disabled={rotate.busy}
                onClick={async () => {
                  const result = await rotate.run(grace);
                  if (result) {
                    setNewSecret(result.secret);
                    setDialog(null);
                    void subscription.reload();
                  }
                }}
              >
                {rotate.busy ? "Rotating…" : "Rotate"}
              </button>
            </>
          }
        >
          <GraceChoices legend="Keep signing with the old secret for" value={grace} onChange={setGrace} />
          <FieldMessages id="grace-error" error={rotate.error} name="grace_seconds" />
          <ErrorBanner error={rotate.error} fields={["grace_seconds"]} />
        </Dialog>
      )}
    </>
  );
}

function TestResult({ result }: { result: TestSendResult }) {
  const attempt = result.attempt;
  if (!attempt) return <TestQueued result={result} />;
  const ok = result.status === "delivered";
  return (
    <div className={`test-result ${ok ? "test-ok" : "test-failed"}`} role="status" data-testid="test-result">
      <p>
        <StatusBadge status={result.status} />{" "}
        {ok ? "The receiver accepted the test event." : "The receiver did not accept the test event."}
      </p>
      <dl className="facts">
        <dt>HTTP status</dt>
        <dd>{attempt.status_code ?? "no answer"}</dd>
        <dt>Duration</dt>
        <dd>{formatMs(attempt.duration_ms)}</dd>
        {attempt.error && (
          <>
            <dt>Error</dt>
            <dd>{attempt.error}</dd>
          </>
        )}
        <dt>Delivery</dt>
        <dd>
          <Link to={`/deliveries/${result.delivery_id}`}>{result.delivery_id}</Link>
        </dd>
      </dl>
      {attempt.response_body && (
        <>
          <p className="small muted">Response body</p>
          <pre className="code-block">{attempt.response_body}</pre>
        </>
      )}
    </div>
  );
}

/** 202: the receiver has not answered yet; the delivery log follows the attempt. */
function TestQueued({ result }: { result: TestSendResult }) {
  return (
    <div className="test-result test-queued" role="status" data-testid="test-result">
      <p>
        <StatusBadge status={result.status} /> Queued: the receiver has not answered yet.
      </p>
      <p className="small muted">The attempt will appear in the delivery log as soon as the receiver answers.</p>
      <Link to={`/deliveries/${result.delivery_id}`}>Follow the delivery</Link>
    </div>
  );
}
