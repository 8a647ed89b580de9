import { useId, useState } from "react";
import { useSearchParams } from "react-router-dom";
import { api, type AutograderSecret, type InboundEvent, type Organization } from "../../api";
import { useOrganization } from "../../auth";
import { Dialog } from "../../components/Dialog";
import { shortId, StatusBadge, Time } from "../../components/display";
import { Empty, ErrorBanner, LoadMore, LoadState, Notice, PageTitle } from "../../components/feedback";
import { FieldMessages } from "../../components/forms";
import { DEFAULT_GRACE_SECONDS, GraceChoices } from "../../components/GraceChoices";
import { SecretReveal } from "../../components/SecretReveal";
import { REFRESH_MS, useAction, useApi, usePagedList } from "../../hooks";

export const INBOUND_STATUSES = ["pending", "processing", "processed", "failed", "dead", "ignored"];
const EVENTS_PATH = "/api/inbound/events";
const AUTOGRADER_SECRETS_PATH = "/api/inbound/autograder-secrets";

export function InboundPage() {
  const organization = useOrganization();
  const [params, setParams] = useSearchParams();
  const status = params.get("status") ?? "";
  const selected = params.get("event");
  const statusId = useId();
  const [notice, setNotice] = useState<string>();
  const list = usePagedList<InboundEvent>(EVENTS_PATH, { organization_id: organization.id, status }, REFRESH_MS);
  const retry = useAction((event: InboundEvent) =>
    api<InboundEvent>(`${EVENTS_PATH}/${encodeURIComponent(event.id)}/retry`, { method: "POST" }),
  );

  function update(name: string, value: string | null) {
    const next = new URLSearchParams(params);
    if (value) next.set(name, value);
    else next.delete(name);
    setParams(next, { replace: true });
  }

  return (
    <>
      <PageTitle>Inbound events</PageTitle>
      <p className="muted">Grades from autograders and events from other senders land here, verified, and are processed once.</p>
      {organization.role === "admin" && <AutograderSecretPanel organization={organization} />}
      <Notice>{notice}</Notice>
      <ErrorBanner error={retry.error} />
      <form className="filters" role="search" aria-label="Filter inbound events" onSubmit={(event) => event.preventDefault()}>
        <div className="field">
          <label htmlFor={statusId}>Status</label>
          <select id={statusId} value={status} onChange={(event) => update("status", event.target.value)}>
            <option value="">Any status</option>
            {INBOUND_STATUSES.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </div>
      </form>
      {selected && <InboundDetail id={selected} onClose={() => update("event", null)} />}
      <LoadState what="Inbound events" loading={list.loading} error={list.error} hasData={Boolean(list.items)} onRetry={list.reload}>
        {list.items && list.items.length === 0 ? (
          <Empty title={status ? `No ${status} inbound events` : "No inbound events yet"}>
            Events appear here when an autograder or another configured sender posts to Questbridge.
          </Empty>
        ) : (
          <div className="table-wrap">
            <table className="table table-stack" data-testid="inbound-table">
              <thead>
                <tr>
                  <th scope="col">Event</th>
                  <th scope="col">Source</th>
                  <th scope="col">Status</th>
                  <th scope="col">Attempts</th>
                  <th scope="col">Error</th>
                  <th scope="col">Received</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {list.items?.map((event) => (
                  <tr key={event.id} data-event-id={event.id} data-status={event.status}>
                    <th scope="row" data-label="Event">
                      <button type="button" className="link-button" onClick={() => update("event", event.id)}>
                        {event.type ?? shortId(event.id)}
                      </button>
                    </th>
                    <td data-label="Source">{event.source}</td>
                    <td data-label="Status">
                      <StatusBadge status={event.status} />
                    </td>
                    <td data-label="Attempts">{event.attempts}</td>
                    <td data-label="Error">{event.error ?? <span className="muted">—</span>}</td>
                    <td data-label="Received">
                      <Time value={event.received_at} />
                    </td>
                    <td data-label="Actions">
                      {event.status === "dead" && (
                        <button
                          type="button"
                          className="button button-small"
                          disabled={retry.busy}
                          onClick={async () => {
                            setNotice(undefined);
                            const result = await retry.run(event);
                            if (result !== undefined) {
                              setNotice(`Event ${shortId(event.id)} queued for processing again.`);
                              void list.reload();
                            }
                          }}
                        >
                          Retry
                        </button>
                      )}
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

function InboundDetail({ id, onClose }: { id: string; onClose: () => void }) {
  const event = useApi<InboundEvent>(`${EVENTS_PATH}/${encodeURIComponent(id)}`, undefined, REFRESH_MS);
  return (
    <section className="panel" aria-labelledby="inbound-detail-heading">
      <div className="panel-header">
        <h2 id="inbound-detail-heading">Event {shortId(id)}</h2>
        <button type="button" className="button button-small" onClick={onClose}>
          Close
        </button>
      </div>
      <LoadState what="Inbound event" loading={event.loading} error={event.error} hasData={Boolean(event.data)} onRetry={event.reload}>
        {event.data && (
          <dl className="facts facts-grid">
            <dt>Id</dt>
            <dd>
              <code>{event.data.id}</code>
            </dd>
            <dt>Source</dt>
            <dd>{event.data.source}</dd>
            <dt>Type</dt>
            <dd>{event.data.type ? <code>{event.data.type}</code> : "—"}</dd>
            <dt>Status</dt>
            <dd>
              <StatusBadge status={event.data.status} />
            </dd>
            <dt>Attempts</dt>
            <dd>{event.data.attempts}</dd>
            <dt>Error</dt>
            <dd>{event.data.error ?? "—"}</dd>
            <dt>Received</dt>
            <dd>
              <Time value={event.data.received_at} />
            </dd>
            <dt>Processed</dt>
            <dd>
              <Time value={event.data.processed_at} />
            </dd>
            {event.data.outcome && (
              <>
                <dt>Outcome</dt>
                <dd>{event.data.outcome}</dd>
              </>
            )}
          </dl>
        )}
        {event.data?.payload !== undefined && <pre className="code-block">{JSON.stringify(event.data.payload, null, 2)}</pre>}
      </LoadState>
    </section>
  );
}

/** The organization's own autograder secret: it grades this organization's submissions only. */
function AutograderSecretPanel({ organization }: { organization: Organization }) {
  const current = useApi<AutograderSecret>(AUTOGRADER_SECRETS_PATH, { organization_id: organization.id });
  const [dialog, setDialog] = useState(false);
  const [grace, setGrace] = useState(DEFAULT_GRACE_SECONDS);
  const [revealed, setRevealed] = useState<string>();
  const rotate = useAction((graceSeconds: number) =>
    api<AutograderSecret & { secret: string }>(`${AUTOGRADER_SECRETS_PATH}/rotate`, {
      method: "POST",
      body: { organization_id: organization.id, grace_seconds: graceSeconds },
    }),
  );

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
        <Dialog
          title="Rotate the autograder secret"
          onClose={() => {
            rotate.clearError();
            setDialog(false);
          }}
          footer={
            <>
              <button type="button" className="button" onClick={() => setDialog(false)}>
                Cancel
              </button>
              <button type="button" className="button button-primary" disabled={rotate.busy} onClick={() => issue(grace)}>
                {rotate.busy ? "Rotating…" : "Rotate"}
              </button>
            </>
          }
        >
          <p>
            Rotating issues a new secret. During the grace period grades signed with either secret are accepted, so the
            autograder can switch without refused grades.
          </p>
          <GraceChoices legend="Keep accepting the old secret for" value={grace} onChange={setGrace} />
          <FieldMessages id="autograder-grace-error" error={rotate.error} name="grace_seconds" />
          <ErrorBanner error={rotate.error} fields={["grace_seconds"]} />
        </Dialog>
      )}
    </section>
  );
}
