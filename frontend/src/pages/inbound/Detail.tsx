// One inbound event: where it came from, how processing went, and its payload.
import { inboundEventPath, type InboundEvent } from "../../api/inbound";
import { shortId, StatusBadge, Time } from "../../components/display";
import { LoadState } from "../../components/feedback";
import { REFRESH_MS, useApi } from "../../hooks";

export function InboundDetail({ id, onClose }: { id: string; onClose: () => void }) {
  const event = useApi<InboundEvent>(inboundEventPath(id), undefined, REFRESH_MS);
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
