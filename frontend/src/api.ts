// Same-origin calls to the Questbridge API. The session is an HttpOnly cookie set by
// POST /api/auth/login, so nothing here stores or sends a token.

export type FieldErrors = Record<string, string[]>;

/** An API failure, read from an RFC 9457 problem+json body when the server sent one. */
export class ApiError extends Error {
  readonly status: number;
  readonly title: string;
  readonly detail: string;
  readonly type: string;
  readonly errors: FieldErrors;
  /** The server answered with an RFC 9457 problem+json body (Questbridge itself, not a proxy). */
  readonly problem: boolean;

  constructor(
    status: number,
    title: string,
    detail: string,
    type = "about:blank",
    errors: FieldErrors = {},
    problem = true,
  ) {
    super(detail || title);
    this.name = "ApiError";
    this.status = status;
    this.title = title;
    this.detail = detail;
    this.type = type;
    this.errors = errors;
    this.problem = problem;
  }

  /**
   * The endpoint does not exist on this server (a feature not deployed yet): 405 or 501, or a 404
   * that is not a problem+json answer (a proxy's or static server's page, not Questbridge's).
   */
  get unavailable(): boolean {
    return this.status === 405 || this.status === 501 || (this.status === 404 && !this.problem);
  }

  /** Questbridge answered 404 problem+json: the thing asked for does not exist (or is not yours). */
  get notFound(): boolean {
    return this.status === 404 && this.problem;
  }

  /** Messages for one field, including nested marshmallow errors (`{"0": ["..."]}`). */
  fieldMessages(field: string): string[] {
    return flatten(this.errors[field]);
  }
}

function flatten(value: unknown): string[] {
  if (value == null) return [];
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.flatMap(flatten);
  if (typeof value === "object") {
    return Object.entries(value as Record<string, unknown>).flatMap(([key, inner]) =>
      flatten(inner).map((message) => (/^\d+$/.test(key) ? `item ${Number(key) + 1}: ${message}` : `${key}: ${message}`)),
    );
  }
  return [String(value)];
}

type Listener = () => void;
const unauthorizedListeners = new Set<Listener>();

/** Called when any request answers 401: the session ended, so the app shows the login page. */
export function onUnauthorized(listener: Listener): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

export type Query = Record<string, string | number | boolean | null | undefined>;

export function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}${path.includes("?") ? "&" : "?"}${text}` : path;
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  query?: Query;
  signal?: AbortSignal;
  /** Do not broadcast a 401 (the login form handles its own). */
  quietUnauthorized?: boolean;
}

export async function api<T = unknown>(path: string, options: RequestOptions = {}): Promise<T> {
  const { method = "GET", body, query, signal, quietUnauthorized } = options;
  const headers: Record<string, string> = { Accept: "application/json, application/problem+json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response: Response;
  try {
    response = await fetch(withQuery(path, query), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      signal,
    });
  } catch (error) {
    if (error instanceof DOMException && error.name === "AbortError") throw error;
    throw new ApiError(0, "Network error", "The server could not be reached. Check your connection and try again.");
  }
  if (response.status === 204) return null as T;
  const text = await response.text();
  let parsed: unknown = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = null;
    }
  }
  if (!response.ok) {
    const error = toApiError(response, parsed);
    if (response.status === 401 && !quietUnauthorized) unauthorizedListeners.forEach((listener) => listener());
    throw error;
  }
  return parsed as T;
}

function toApiError(response: Response, parsed: unknown): ApiError {
  const problem = (parsed && typeof parsed === "object" ? parsed : {}) as Record<string, unknown>;
  const title = typeof problem.title === "string" ? problem.title : response.statusText || `HTTP ${response.status}`;
  const detail = typeof problem.detail === "string" ? problem.detail : "";
  const type = typeof problem.type === "string" ? problem.type : "about:blank";
  const errors =
    problem.errors && typeof problem.errors === "object" && !Array.isArray(problem.errors)
      ? (problem.errors as FieldErrors)
      : {};
  const contentType = response.headers.get("Content-Type") ?? "";
  const isProblem = /^application\/problem\+json\b/i.test(contentType) && Boolean(parsed) && typeof parsed === "object";
  return new ApiError(response.status, title, detail, type, errors, isProblem);
}

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

// Shapes the UI reads. Fields the server adds later are ignored.

export interface Organization {
  id: string;
  name: string;
  role: string;
}

export interface Me {
  id: string;
  email: string;
  display_name?: string | null;
  must_change_password?: boolean;
  organizations: Organization[];
}

export interface EventType {
  type: string;
  description: string;
}

export interface Subscription {
  id: string;
  organization_id: string;
  target_url: string;
  description?: string;
  event_types: string[];
  active: boolean;
  disabled_reason?: string | null;
  failing_since?: string | null;
  previous_secret_expires_at?: string | null;
  created_at: string;
  updated_at?: string;
  secret?: string;
}

export type DeliveryStatus = "pending" | "delivering" | "retrying" | "delivered" | "dead";
export const DELIVERY_STATUSES: DeliveryStatus[] = ["pending", "delivering", "retrying", "delivered", "dead"];

export interface Delivery {
  id: string;
  event_id: string;
  subscription_id: string;
  event_type: string;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: string | null;
  last_status_code: number | null;
  last_error: string | null;
  created_at: string;
  delivered_at: string | null;
}

export interface Attempt {
  attempt: number;
  started_at: string;
  duration_ms: number | null;
  status_code: number | null;
  error: string | null;
  response_body: string | null;
}

export interface DeliveryDetail extends Delivery {
  attempts_log: Attempt[];
  payload?: unknown;
}

export interface TestSendResult {
  delivery_id: string;
  event_id: string;
  status: string;
  attempt: Attempt;
}

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

export interface ApiKey {
  key_id: string;
  id?: string;
  name?: string;
  tier: string;
  ip_allowlist?: string[];
  created_at?: string;
  last_used_at?: string | null;
  revoked_at?: string | null;
  expires_at?: string | null;
  /** active, replaced (old secret in its grace period), expired or revoked. */
  status?: string;
  previous_secret_expires_at?: string | null;
  api_key?: string;
}

/** What one tier admits (API_KEY_TIERS). */
export interface TierLimits {
  tier: string;
  per_day: number;
  per_minute: number;
}

/** What an organization may hold in API keys: set by platform admins, read by its admins. */
export interface OrganizationLimits {
  organization_id: string;
  allowed_tiers: string[];
  max_api_keys: number;
  /** Keys it holds now (neither revoked nor replaced). */
  api_keys: number;
  /** The allowed tiers with their limits, in tier order. */
  tiers: TierLimits[];
}

export interface OAuthClient {
  client_id: string;
  name?: string;
  client_name?: string;
  redirect_uris?: string[];
  scopes?: string[] | string;
  scope?: string;
  grant_types?: string[];
  client_type?: "confidential" | "public" | string;
  created_at?: string;
  client_secret?: string | null;
}

export interface InboundEvent {
  id: string;
  source: string;
  status: "pending" | "processing" | "processed" | "failed" | "dead" | string;
  attempts: number;
  error: string | null;
  received_at: string;
  processed_at: string | null;
  type?: string | null;
  outcome?: string | null;
  organization_id?: string | null;
  provider_event_id?: string | null;
  next_attempt_at?: string | null;
  payload?: unknown;
}

export interface AuditEntry {
  id: string;
  action: string;
  actor_id: string | null;
  actor_email: string | null;
  target_type: string | null;
  target_id: string | null;
  metadata: Record<string, unknown> | null;
  ip: string | null;
  created_at: string;
}
