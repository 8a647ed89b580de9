// /deliveries/:id: one delivery, every attempt with the receiver's answer, and redelivery.
import { useState } from "react";
import { Link, useParams } from "react-router-dom";
import { deliveryPath, redeliverDelivery, type DeliveryDetail } from "../../api/deliveries";
import { formatMs, shortId, StatusBadge, Time } from "../../components/display";
import { Empty, ErrorBanner, LoadState, Notice, PageTitle } from "../../components/feedback";
import { Table } from "../../components/Table";
import { REFRESH_MS, useAction, useApi } from "../../hooks";

export function DeliveryDetailPage() {
  const { id = "" } = useParams();
  const delivery = useApi<DeliveryDetail>(deliveryPath(id), undefined, REFRESH_MS);
  const [notice, setNotice] = useState<string>();
  const redeliver = useAction(() => redeliverDelivery(id));
  const data = delivery.data;

  return (
    <>
      <PageTitle
        actions={
          data && (
            <button
              type="button"
              className="button button-primary"
              disabled={redeliver.busy || data.status === "delivering"}
              onClick={async () => {
                setNotice(undefined);
                const result = await redeliver.run();
                if (result) {
                  setNotice("Queued again. The engine sends it within seconds.");
                  void delivery.reload();
                }
              }}
            >
              {redeliver.busy ? "Queuing…" : "Redeliver"}
            </button>
          )
        }
      >
        Delivery
      </PageTitle>
      <p className="breadcrumbs">
        <Link to="/deliveries">← All deliveries</Link>
      </p>
      <Notice>{notice}</Notice>
      <ErrorBanner error={redeliver.error} />
      <LoadState what="Delivery" loading={delivery.loading} error={delivery.error} hasData={Boolean(data)} onRetry={delivery.reload}>
        {data && (
          <>
            <section className="panel" aria-labelledby="summary-heading">
              <h2 id="summary-heading">Summary</h2>
              <dl className="facts facts-grid">
                <dt>Status</dt>
                <dd>
                  <StatusBadge status={data.status} />
                </dd>
                <dt>Event type</dt>
                <dd>
                  <code>{data.event_type}</code>
                </dd>
                <dt>Delivery id (webhook-id)</dt>
                <dd>
                  <code>{data.id}</code>
                </dd>
                <dt>Event id</dt>
                <dd>
                  <code>{data.event_id}</code>
                </dd>
                <dt>Subscription</dt>
                <dd>
                  <Link to={`/subscriptions/${data.subscription_id}`}>{shortId(data.subscription_id)}</Link>
                </dd>
                <dt>Attempts</dt>
                <dd>{data.attempts}</dd>
                <dt>Created</dt>
                <dd>
                  <Time value={data.created_at} />
                </dd>
                <dt>Delivered</dt>
                <dd>
                  <Time value={data.delivered_at} />
                </dd>
                {data.next_attempt_at && data.status !== "delivered" && (
                  <>
                    <dt>Next attempt</dt>
                    <dd>
                      <Time value={data.next_attempt_at} />
                    </dd>
                  </>
                )}
              </dl>
            </section>

            <section className="panel" aria-labelledby="attempts-heading">
              <h2 id="attempts-heading">Attempts</h2>
              {data.attempts_log.length === 0 ? (
                <Empty title="No attempts yet">The engine has not tried this delivery yet.</Empty>
              ) : (
                <Table testId="attempts-table" columns={["#", "Started", "HTTP status", "Duration", "Error", "Response body"]}>
                  {data.attempts_log.map((attempt, index) => (
                    <tr key={`${attempt.attempt}-${index}`}>
                      <td data-label="#">{attempt.attempt}</td>
                      <td data-label="Started">
                        <Time value={attempt.started_at} />
                      </td>
                      <td data-label="HTTP status">
                        {attempt.status_code === null ? (
                          <span className="muted">none</span>
                        ) : (
                          <span className={attempt.status_code < 300 ? "code-ok" : "code-bad"}>{attempt.status_code}</span>
                        )}
                      </td>
                      <td data-label="Duration">{formatMs(attempt.duration_ms)}</td>
                      <td data-label="Error">{attempt.error ?? <span className="muted">—</span>}</td>
                      <td data-label="Response body">
                        {attempt.response_body ? <pre className="code-inline">{attempt.response_body}</pre> : <span className="muted">empty</span>}
                      </td>
                    </tr>
                  ))}
                </Table>
              )}
            </section>

            {data.payload !== undefined && (
              <section className="panel" aria-labelledby="payload-heading">
                <h2 id="payload-heading">Payload</h2>
                <pre className="code-block">{JSON.stringify(data.payload, null, 2)}</pre>
              </section>
            )}
          </>
        )}
      </LoadState>
    </>
  );
}
