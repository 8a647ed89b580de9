// What the dashboard reads: delivery metrics, their trend, and API key usage by tier.
export interface WebhookMetrics {
  delivered: number;
  failed: number;
  dead: number;
  pending: number;
  retrying: number;
  delivering?: number;
  window_hours?: number;
  avg_retry_count: number | null;
  p50_latency_ms: number | null;
  p99_latency_ms: number | null;
}

export interface TimePoint {
  t: string;
  delivered: number;
  failed: number;
  success_rate: number | null;
  p50_latency_ms: number | null;
  p99_latency_ms: number | null;
}

export interface TierUsage {
  tier: string;
  keys: number;
  requests_today: number;
  unique_consumers: number;
  rate_limit_hits: number;
}

export const METRICS_PATH = "/v1/monitoring/webhooks/metrics";
export const TIMESERIES_PATH = "/v1/monitoring/webhooks/timeseries";
export const KEY_USAGE_PATH = "/v1/monitoring/external/keys";
