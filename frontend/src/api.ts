// Same-origin calls to the Questbridge API. The session is an HttpOnly cookie set by
// POST /api/auth/login, so no access token is stored or sent. What is sent is the session's CSRF
// token, with every unsafe request: the server refuses a cookie-authenticated POST, PUT, PATCH or
// DELETE without it, so another site cannot make the browser act for its user.

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

export const CSRF_HEADER = "X-CSRF-Token";
const CSRF_PROBLEM = "urn:questbridge:problem:csrf-failed";
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
let csrfToken: string | null = null;

/** The session's CSRF token, from the sign-in answer or GET /api/auth/me (null when signed out). */
export function setCsrfToken(token: string | null | undefined): void {
  csrfToken = token ?? null;
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

async function send(path: string, options: RequestOptions): Promise<Response> {
  const { method = "GET", body, query, signal } = options;
  const headers: Record<string, string> = { Accept: "application/json, application/problem+json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (!SAFE_METHODS.has(method.toUpperCase()) && csrfToken) headers[CSRF_HEADER] = csrfToken;
  try {
    return await fetch(withQuery(path, query), {
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
}

async function read(response: Response): Promise<unknown> {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/**
 * The session changed under this page (a sign-in in another tab replaces the cookie, and with it
 * the token): take the current session's token, so the refused request can be sent once more.
 */
async function renewCsrfToken(signal?: AbortSignal): Promise<boolean> {
  const response = await send("/api/auth/me", { signal });
  if (!response.ok) return false;
  const me = (await read(response)) as { csrf_token?: string | null } | null;
  setCsrfToken(me?.csrf_token);
  return Boolean(me?.csrf_token);
}

export async function api<T = unknown>(path: string, options: RequestOptions = {}): Promise<T> {
  let response = await send(path, options);
  if (response.status === 204) return null as T;
  let parsed = await read(response);
  if (response.status === 403 && (parsed as { type?: string } | null)?.type === CSRF_PROBLEM) {
    if (await renewCsrfToken(options.signal)) {
      response = await send(path, options);
      if (response.status === 204) return null as T;
      parsed = await read(response);
    }
  }
  if (!response.ok) {
    const error = toApiError(response, parsed);
    if (response.status === 401 && !options.quietUnauthorized) unauthorizedListeners.forEach((listener) => listener());
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
  /** Sent back as X-CSRF-Token with unsafe requests; null when not signed in with the cookie. */
  csrf_token?: string | null;
  /** Invitations sent to the caller's email that await their answer. */
  invitations?: PendingInvitation[];
}

export interface Member {
  user_id: string;
  email: string;
  display_name: string | null;
  role: string;
  created_at: string;
}

export interface Inviter {
  email: string;
  display_name: string | null;
}

export type InvitationStatus = "pending" | "accepted" | "declined" | "revoked" | "expired";

/** An invitation as its organization's admins see it: nothing about the person until they accept. */
export interface Invitation {
  id: string;
  organization_id: string;
  email: string;
  role: string;
  status: InvitationStatus;
  invited_by: Inviter | null;
  created_at: string;
  sent_at: string;
  expires_at: string;
  responded_at: string | null;
  /** On create and resend: whether a mail server took the email. */
  invitation_sent?: boolean;
}

/** An invitation as its invitee sees it, in GET /api/auth/me. */
export interface PendingInvitation {
  id: string;
  organization: { id: string; name: string };
  role: string;
  invited_by: Inviter | null;
  created_at: string;
  expires_at: string;
}

/** What an emailed invitation link offers (POST /api/invitations/lookup). */
export interface InvitationPreview {
  id: string;
  email: string;
  role: string;
  organization: { id: string; name: string };
  invited_by: Inviter | null;
  expires_at: string;
  /** The email has an account: its owner signs in to accept; else they choose a password. */
  account_exists: boolean;
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

/**
 * POST /api/webhooks/test: 200 with the attempt when the engine sent it within the server's short
 * wait; 202 without one (the delivery is queued or being sent: follow it in the delivery log).
 */
export interface TestSendResult {
  delivery_id: string;
  event_id: string;
  status: DeliveryStatus;
  attempt?: Attempt;
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

/** An organization's own autograder secret, as GET shows it (never the secret itself). */
export interface AutograderSecret {
  organization_id: string;
  configured: boolean;
  created_at: string | null;
  rotated_at: string | null;
  created_by: string | null;
  rotated_by: string | null;
  previous_secret_expires_at: string | null;
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
