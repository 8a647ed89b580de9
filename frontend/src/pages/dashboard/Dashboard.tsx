import { Link } from "react-router-dom";
import type { Page } from "../../api";
import { DELIVERIES_PATH, type Delivery } from "../../api/deliveries";
import { KEY_USAGE_PATH, METRICS_PATH, TIMESERIES_PATH, type TierUsage, type TimePoint, type WebhookMetrics } from "../../api/monitoring";
import { useOrganization } from "../../auth";
import { BarList, LineChart } from "../../components/charts";
import { formatMs, formatNumber, formatPercent, shortId, StatusBadge, Time } from "../../components/display";
import { Empty, LoadState, PageTitle } from "../../components/feedback";
import { Table } from "../../components/Table";
import { REFRESH_MS, useApi } from "../../hooks";

const timeLabel = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

function minuteLabel(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : timeLabel.format(date);
}

export function DashboardPage() {
  const organization = useOrganization();
  const scope = { organization_id: organization.id };
  const metrics = useApi<WebhookMetrics>(METRICS_PATH, scope, REFRESH_MS);
  const series = useApi<{ data: TimePoint[] }>(TIMESERIES_PATH, { ...scope, minutes: 60 }, REFRESH_MS);
  const keys = useApi<{ data: TierUsage[] }>(KEY_USAGE_PATH, scope, REFRESH_MS);
  const recent = useApi<Page<Delivery>>(DELIVERIES_PATH, { ...scope, limit: 10 }, REFRESH_MS);

  const updated = [metrics.updatedAt, series.updatedAt, keys.updatedAt, recent.updatedAt]
    .filter((date): date is Date => Boolean(date))
    .sort((a, b) => b.getTime() - a.getTime())[0];

  return (
    <>
      <PageTitle
        actions={
          <p className="refresh-note" aria-live="off">
            Refreshes every 5 seconds{updated ? ` · updated ${updated.toLocaleTimeString()}` : ""}
          </p>
        }
      >
        Dashboard
      </PageTitle>

      <section aria-labelledby="deliveries-heading" className="panel">
        <h2 id="deliveries-heading">Webhook deliveries</h2>
        <LoadState what="Delivery metrics" loading={metrics.loading} error={metrics.error} hasData={Boolean(metrics.data)} onRetry={metrics.reload}>
          {metrics.data && <MetricCards metrics={metrics.data} />}
        </LoadState>
      </section>

      <section aria-labelledby="trend-heading" className="panel">
        <h2 id="trend-heading">Last hour</h2>
        <LoadState what="Delivery history" loading={series.loading} error={series.error} hasData={Boolean(series.data)} onRetry={series.reload}>
          {series.data && <Trends points={series.data.data} />}
        </LoadState>
      </section>

      <div className="grid-2">
        <section aria-labelledby="keys-heading" className="panel">
          <h2 id="keys-heading">API key usage by tier</h2>
          <LoadState what="API key usage" loading={keys.loading} error={keys.error} hasData={Boolean(keys.data)} onRetry={keys.reload}>
            {keys.data && <KeyUsage tiers={keys.data.data} />}
          </LoadState>
        </section>

        <section aria-labelledby="recent-heading" className="panel">
          <h2 id="recent-heading">Recent deliveries</h2>
          <LoadState what="Recent deliveries" loading={recent.loading} error={recent.error} hasData={Boolean(recent.data)} onRetry={recent.reload}>
            {recent.data && <RecentDeliveries deliveries={recent.data.data} />}
          </LoadState>
        </section>
      </div>
    </>
  );
}

function MetricCards({ metrics }: { metrics: WebhookMetrics }) {
  const queueDepth = (metrics.pending ?? 0) + (metrics.delivering ?? 0) + (metrics.retrying ?? 0);
  const cards: { label: string; value: string; tone?: string; hint?: string }[] = [
    { label: "Queue depth", value: formatNumber(queueDepth), hint: "pending, sending and retrying" },
    { label: "Delivered", value: formatNumber(metrics.delivered), tone: "ok" },
    { label: "Pending", value: formatNumber(metrics.pending) },
    { label: "Retrying", value: formatNumber(metrics.retrying), tone: "warn" },
    { label: "Failed attempts", value: formatNumber(metrics.failed), tone: "warn" },
    { label: "Dead", value: formatNumber(metrics.dead), tone: "bad" },
    { label: "Latency p50", value: formatMs(metrics.p50_latency_ms) },
    { label: "Latency p99", value: formatMs(metrics.p99_latency_ms) },
    { label: "Avg. retries", value: formatNumber(metrics.avg_retry_count, 2) },
  ];
  return (
    <>
      <p className="muted small">Deliveries created in the last {metrics.window_hours ?? 24} hours, by current status.</p>
      <dl className="cards" data-testid="metric-cards">
        {cards.map((card) => (
          <div key={card.label} className={`card${card.tone ? ` card-${card.tone}` : ""}`}>
            <dt>{card.label}</dt>
            <dd>{card.value}</dd>
            {card.hint && <dd className="card-hint">{card.hint}</dd>}
          </div>
        ))}
      </dl>
    </>
  );
}

function Trends({ points }: { points: TimePoint[] }) {
  const labels = points.map((point) => minuteLabel(point.t));
  return (
    <div className="grid-2">
      <LineChart
        title="Success rate"
        labels={labels}
        max={1}
        formatValue={formatPercent}
        series={[{ name: "Success rate", className: "series-a", values: points.map((point) => normalizeRate(point.success_rate)) }]}
      />
      <LineChart
        title="Latency"
        labels={labels}
        formatValue={formatMs}
        series={[
          { name: "p50", className: "series-a", values: points.map((point) => point.p50_latency_ms ?? null) },
          { name: "p99", className: "series-b", values: points.map((point) => point.p99_latency_ms ?? null) },
        ]}
      />
    </div>
  );
}

function normalizeRate(rate: number | null | undefined): number | null {
  if (rate === null || rate === undefined) return null;
  return rate > 1 ? rate / 100 : rate;
}

function KeyUsage({ tiers }: { tiers: TierUsage[] }) {
  if (tiers.every((tier) => !tier.keys && !tier.requests_today)) {
    return (
      <Empty title="No API keys in use">
        <Link to="/api-keys">Create a key</Link> for each partner system that calls the external API.
      </Empty>
    );
  }
  return (
    <>
      <BarList
        title="Requests today"
        items={tiers.map((tier) => ({ label: tier.tier, value: tier.requests_today, detail: `(${tier.keys} keys)` }))}
      />
      <Table testId="key-usage-table" className="table-compact" columns={["Tier", "Keys", "Requests today", "Consumers", "Rate-limited"]}>
        {tiers.map((tier) => (
          <tr key={tier.tier}>
            <th scope="row" data-label="Tier">{tier.tier}</th>
            <td data-label="Keys">{formatNumber(tier.keys)}</td>
            <td data-label="Requests today">{formatNumber(tier.requests_today)}</td>
            <td data-label="Consumers">{formatNumber(tier.unique_consumers)}</td>
            <td data-label="Rate-limited">{formatNumber(tier.rate_limit_hits)}</td>
          </tr>
        ))}
      </Table>
    </>
  );
}

function RecentDeliveries({ deliveries }: { deliveries: Delivery[] }) {
  if (!deliveries.length) {
    return (
      <Empty title="No deliveries yet">
        Deliveries appear when an event matches a <Link to="/subscriptions">subscription</Link>.
      </Empty>
    );
  }
  return (
    <ul className="recent" data-testid="recent-deliveries">
      {deliveries.map((delivery) => (
        <li key={delivery.id}>
          <StatusBadge status={delivery.status} />
          <Link to={`/deliveries/${delivery.id}`}>{delivery.event_type}</Link>
          <span className="muted">{shortId(delivery.id)}</span>
          <Time value={delivery.delivered_at ?? delivery.created_at} />
        </li>
      ))}
    </ul>
  );
}
