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

/** Any failure as an ApiError, so one banner shows it (a thrown non-API error included). */
export function asApiError(error: unknown, title = "Unexpected error"): ApiError {
  if (error instanceof ApiError) return error;
  return new ApiError(0, title, error instanceof Error ? error.message : String(error));
}

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}
