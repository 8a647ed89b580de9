// /deliveries: the delivery log, filtered through the address, with bulk redelivery of dead ones.
import { useEffect, useId, useState } from "react";
import { Link } from "react-router-dom";
import type { Page } from "../../api";
import { DELIVERIES_PATH, DELIVERY_STATUSES, redeliverDeadOfOrganization, type Delivery } from "../../api/deliveries";
import {
  EVENT_TYPES_PATH,
  redeliverDeadOfSubscription,
  SUBSCRIPTIONS_PATH,
  type EventType,
  type Subscription,
} from "../../api/subscriptions";
import { useOrganization } from "../../auth";
import { ConfirmDialog } from "../../components/Dialog";
import { EventTypeFilter } from "../../components/EventTypePicker";
import { shortId, StatusBadge, Time } from "../../components/display";
import { Empty, Notice, PageTitle } from "../../components/feedback";
import { StatusFilter, useQueryParams } from "../../components/filters";
import { PagedTable, Table } from "../../components/Table";
import { REFRESH_MS, useAction, useApi, usePagedList } from "../../hooks";

const FILTERS = ["status", "event_type", "subscription_id"] as const;

export function DeliveriesPage() {
  const organization = useOrganization();
  const [params, setParam] = useQueryParams();
  const filters = Object.fromEntries(FILTERS.map((name) => [name, params.get(name) ?? ""])) as Record<
    (typeof FILTERS)[number],
    string
  >;
  const [autoRefresh, setAutoRefresh] = useState(true);
  const [confirmBulk, setConfirmBulk] = useState(false);
  const [notice, setNotice] = useState<string>();
  const ids = { type: useId(), subscription: useId(), refresh: useId() };

  const list = usePagedList<Delivery>(
    DELIVERIES_PATH,
    { organization_id: organization.id, ...filters },
    autoRefresh ? REFRESH_MS : undefined,
  );
  const catalog = useApi<{ data: EventType[] }>(EVENT_TYPES_PATH);
  const subscriptions = useApi<Page<Subscription>>(SUBSCRIPTIONS_PATH, {
    organization_id: organization.id,
    limit: 200,
  });
  const subscriptionUrl = new Map((subscriptions.data?.data ?? []).map((item) => [item.id, item.target_url]));

  // One request either way: the server queues every dead delivery of the subscription, or of the
  // whole organization when no subscription is chosen (including subscriptions not listed here).
  const bulk = useAction(async () => {
    const result = filters.subscription_id
      ? await redeliverDeadOfSubscription(filters.subscription_id)
      : await redeliverDeadOfOrganization(organization.id);
    return result.count;
  });

  const setFilter = (name: (typeof FILTERS)[number], value: string) => setParam(name, value);

  // The catalog first, then custom types partners push, as seen in the rows loaded so far (kept
  // while another filter loads, so the suggestions do not flicker).
  const catalogTypes = (catalog.data?.data ?? []).map((entry) => entry.type);
  const [seenTypes, setSeenTypes] = useState<string[]>([]);
  useEffect(() => setSeenTypes([]), [organization.id]);
  useEffect(() => {
    if (!list.items) return;
    setSeenTypes((previous) => {
      const next = new Set(previous);
      for (const delivery of list.items ?? []) next.add(delivery.event_type);
      return next.size === previous.length ? previous : Array.from(next).sort();
    });
  }, [list.items]);
  const eventTypes = Array.from(new Set([...catalogTypes, ...seenTypes, ...(filters.event_type ? [filters.event_type] : [])]));

  return (
    <>
      <PageTitle
        actions={
          <button type="button" className="button" onClick={() => setConfirmBulk(true)}>
            Redeliver dead…
          </button>
        }
      >
        Deliveries
      </PageTitle>
      <Notice>{notice}</Notice>
      <form className="filters" role="search" aria-label="Filter deliveries" onSubmit={(event) => event.preventDefault()}>
        <StatusFilter statuses={DELIVERY_STATUSES} value={filters.status} onChange={(status) => setFilter("status", status)} />
        <div className="field">
          <label htmlFor={ids.type}>Event type</label>
          <EventTypeFilter id={ids.type} value={filters.event_type} suggestions={eventTypes} onChange={(type) => setFilter("event_type", type)} />
        </div>
        <div className="field">
          <label htmlFor={ids.subscription}>Subscription</label>
          <select
            id={ids.subscription}
            value={filters.subscription_id}
            onChange={(event) => setFilter("subscription_id", event.target.value)}
          >
            <option value="">Any subscription</option>
            {(subscriptions.data?.data ?? []).map((item) => (
              <option key={item.id} value={item.id}>
                {item.target_url}
              </option>
            ))}
            {filters.subscription_id && !subscriptionUrl.has(filters.subscription_id) && (
              <option value={filters.subscription_id}>{shortId(filters.subscription_id)}</option>
            )}
          </select>
        </div>
        <label className="check filters-refresh" htmlFor={ids.refresh}>
          <input id={ids.refresh} type="checkbox" checked={autoRefresh} onChange={(event) => setAutoRefresh(event.target.checked)} />
          <span>Refresh every 5 s</span>
        </label>
      </form>

      <PagedTable
        what="Deliveries"
        list={list}
        empty={
          <Empty title={FILTERS.some((name) => filters[name]) ? "No deliveries match these filters" : "No deliveries yet"}>
            Deliveries appear when an event matches a <Link to="/subscriptions">subscription</Link>.
          </Empty>
        }
      >
        <Table
          testId="deliveries-table"
          columns={[
            "Status",
            "Event type",
            "Subscription",
            "Attempts",
            "Last answer",
            "Created",
            <span className="visually-hidden">Details</span>,
          ]}
        >
          {list.items?.map((delivery) => (
            <tr key={delivery.id} data-delivery-id={delivery.id} data-status={delivery.status}>
              <td data-label="Status">
                <StatusBadge status={delivery.status} />
              </td>
              <td data-label="Event type">
                <code>{delivery.event_type}</code>
              </td>
              <td data-label="Subscription" className="url">
                {subscriptionUrl.get(delivery.subscription_id) ?? shortId(delivery.subscription_id)}
              </td>
              <td data-label="Attempts">{delivery.attempts}</td>
              <td data-label="Last answer">
                {delivery.last_status_code ?? (delivery.last_error ? <span className="muted">{delivery.last_error}</span> : "—")}
              </td>
              <td data-label="Created">
                <Time value={delivery.created_at} />
              </td>
              <td data-label="">
                <Link to={`/deliveries/${delivery.id}`} aria-label={`Details of delivery ${shortId(delivery.id)} (${delivery.event_type})`}>
                  Details
                </Link>
              </td>
            </tr>
          ))}
        </Table>
      </PagedTable>

      {confirmBulk && (
        <ConfirmDialog
          title="Redeliver dead deliveries?"
          confirmLabel="Redeliver dead"
          action={bulk}
          onCancel={() => setConfirmBulk(false)}
          onConfirm={async () => {
            const count = await bulk.run();
            if (count !== undefined) {
              setConfirmBulk(false);
              setNotice(count === 0 ? "There were no dead deliveries to redeliver." : `${count} dead ${count === 1 ? "delivery" : "deliveries"} queued again.`);
              void list.reload();
            }
          }}
        >
          <p>
            {filters.subscription_id
              ? `Every dead delivery of ${subscriptionUrl.get(filters.subscription_id) ?? "this subscription"} is queued again.`
              : "Every dead delivery of every subscription in this organization is queued again."}{" "}
            Each keeps its webhook-id, so receivers can recognise a repeat.
          </p>
        </ConfirmDialog>
      )}
    </>
  );
}
