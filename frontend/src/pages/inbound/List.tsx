// /inbound: inbound events filtered by status, one shown beside the list, dead ones retried.
import { useState } from "react";
import { INBOUND_EVENTS_PATH, INBOUND_STATUSES, retryInboundEvent, type InboundEvent } from "../../api/inbound";
import { useOrganization } from "../../auth";
import { shortId, StatusBadge, Time } from "../../components/display";
import { Empty, ErrorBanner, Notice, PageTitle } from "../../components/feedback";
import { StatusFilter, useQueryParams } from "../../components/filters";
import { PagedTable, Table } from "../../components/Table";
import { REFRESH_MS, useAction, usePagedList } from "../../hooks";
import { AutograderSecretPanel } from "./AutograderSecret";
import { InboundDetail } from "./Detail";

export function InboundPage() {
  const organization = useOrganization();
  const [params, update] = useQueryParams();
  const status = params.get("status") ?? "";
  const selected = params.get("event");
  const [notice, setNotice] = useState<string>();
  const list = usePagedList<InboundEvent>(INBOUND_EVENTS_PATH, { organization_id: organization.id, status }, REFRESH_MS);
  const retry = useAction((event: InboundEvent) => retryInboundEvent(event.id));

  return (
    <>
      <PageTitle>Inbound events</PageTitle>
      <p className="muted">Grades from autograders and events from other senders land here, verified, and are processed once.</p>
      {organization.role === "admin" && <AutograderSecretPanel organization={organization} />}
      <Notice>{notice}</Notice>
      <ErrorBanner error={retry.error} />
      <form className="filters" role="search" aria-label="Filter inbound events" onSubmit={(event) => event.preventDefault()}>
        <StatusFilter statuses={INBOUND_STATUSES} value={status} onChange={(value) => update("status", value)} />
      </form>
      {selected && <InboundDetail id={selected} onClose={() => update("event", null)} />}
      <PagedTable
        what="Inbound events"
        list={list}
        empty={
          <Empty title={status ? `No ${status} inbound events` : "No inbound events yet"}>
            Events appear here when an autograder or another configured sender posts to Questbridge.
          </Empty>
        }
      >
        <Table testId="inbound-table" columns={["Event", "Source", "Status", "Attempts", "Error", "Received", "Actions"]}>
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
        </Table>
      </PagedTable>
    </>
  );
}
