import { vi } from "vitest";

// A stand-in for the Questbridge API in component tests: answers fetch() from a table of
// "METHOD /path" handlers and records every request. The browser tests (tests/e2e) use the real one.

export interface Call {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
  headers: Record<string, string>;
}

export interface Reply {
  status?: number;
  body?: unknown;
  contentType?: string;
}

type Handler = (call: Call) => Reply | undefined;

export function problem(status: number, title: string, detail: string, errors?: Record<string, unknown>): Reply {
  return {
    status,
    contentType: "application/problem+json",
    body: { type: `urn:questbridge:problem:${title.toLowerCase().replace(/ /g, "-")}`, title, status, detail, ...(errors ? { errors } : {}) },
  };
}

export const ORG = { id: "11111111-1111-4111-8111-111111111111", name: "Riverside Academy", role: "admin" };
export const OTHER_ORG = { id: "22222222-2222-4222-8222-222222222222", name: "Hillview College", role: "admin" };
export const ME = { id: "u1", email: "admin@riverside.example", organizations: [OTHER_ORG, ORG] };

export class FakeApi {
  calls: Call[] = [];
  private handlers = new Map<string, Handler>();

  constructor(handlers: Record<string, Handler | Reply> = {}) {
    this.on("GET /api/auth/me", () => ({ body: ME }));
    for (const [route, handler] of Object.entries(handlers)) this.on(route, handler);
    vi.stubGlobal("fetch", vi.fn((input: string, init?: RequestInit) => this.fetch(input, init)));
  }

  on(route: string, handler: Handler | Reply): this {
    this.handlers.set(route, typeof handler === "function" ? handler : () => handler);
    return this;
  }

  /** Requests to `METHOD /path` so far. */
  to(route: string): Call[] {
    const [method, path] = route.split(" ");
    return this.calls.filter((call) => call.method === method && call.path === path);
  }

  private async fetch(input: string, init?: RequestInit): Promise<Response> {
    const url = new URL(input, "http://admin.test");
    const call: Call = {
      method: (init?.method ?? "GET").toUpperCase(),
      path: url.pathname,
      query: url.searchParams,
      body: typeof init?.body === "string" ? JSON.parse(init.body) : undefined,
      headers: { ...((init?.headers as Record<string, string> | undefined) ?? {}) },
    };
    this.calls.push(call);
    const handler = this.handlers.get(`${call.method} ${call.path}`);
    const reply = handler?.(call) ?? problem(404, "Not Found", "The requested URL was not found on the server.");
    const status = reply.status ?? 200;
    if (status === 204) return new Response(null, { status });
    return new Response(JSON.stringify(reply.body ?? null), {
      status,
      headers: { "Content-Type": reply.contentType ?? "application/json" },
    });
  }
}
