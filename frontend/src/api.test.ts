import { describe, expect, it, vi } from "vitest";
import { ApiError, api, onUnauthorized, setCsrfToken, withQuery } from "./api";
import { FakeApi, problem } from "./test/server";

async function failure(promise: Promise<unknown>): Promise<ApiError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ApiError);
    return error as ApiError;
  }
  throw new Error("expected the request to fail");
}

describe("api", () => {
  it("reads a problem+json failure into a readable ApiError with its field errors", async () => {
    new FakeApi({
      "POST /api/webhooks/subscriptions": problem(422, "Validation Failed", "invalid fields: event_types, target_url", {
        target_url: ["points at 10.0.0.1, a private address"],
        event_types: { "1": ["'Bad' is not an event type"] },
      }),
    });
    const error = await failure(api("/api/webhooks/subscriptions", { method: "POST", body: {} }));
    expect(error.status).toBe(422);
    expect(error.title).toBe("Validation Failed");
    expect(error.detail).toBe("invalid fields: event_types, target_url");
    expect(error.fieldMessages("target_url")).toEqual(["points at 10.0.0.1, a private address"]);
    expect(error.fieldMessages("event_types")).toEqual(["item 2: 'Bad' is not an event type"]);
    expect(error.fieldMessages("name")).toEqual([]);
    expect(error.unavailable).toBe(false);
  });

  it("sends JSON with the session cookie and no token", async () => {
    const server = new FakeApi({ "POST /api/things": { status: 201, body: { id: 1 } } });
    await expect(api("/api/things", { method: "POST", body: { a: 1 }, query: { x: "y", empty: "" } })).resolves.toEqual({ id: 1 });
    const [, init] = vi.mocked(fetch).mock.calls[0] as [string, RequestInit];
    expect(init.credentials).toBe("same-origin");
    expect(init.headers).toMatchObject({ "Content-Type": "application/json" });
    expect(init.headers).not.toHaveProperty("Authorization");
    expect(server.to("POST /api/things")[0].query.toString()).toBe("x=y");
  });

  it("sends the session's CSRF token with unsafe requests only", async () => {
    const server = new FakeApi({
      "GET /api/things": { body: [] },
      "POST /api/things": { status: 201, body: {} },
      "PUT /api/things/1": { body: {} },
      "DELETE /api/things/1": { status: 204 },
    });
    setCsrfToken("token-of-this-session");
    await api("/api/things");
    await api("/api/things", { method: "POST", body: {} });
    await api("/api/things/1", { method: "PUT", body: {} });
    await api("/api/things/1", { method: "DELETE" });
    expect(server.to("GET /api/things")[0].headers).not.toHaveProperty("X-CSRF-Token");
    for (const route of ["POST /api/things", "PUT /api/things/1", "DELETE /api/things/1"]) {
      expect(server.to(route)[0].headers["X-CSRF-Token"]).toBe("token-of-this-session");
    }
    setCsrfToken(null);
    await api("/api/things", { method: "POST", body: {} });
    expect(server.to("POST /api/things")[1].headers).not.toHaveProperty("X-CSRF-Token");
  });

  it("takes the current session's token and sends once more when the server refuses a stale one", async () => {
    const server = new FakeApi({
      "GET /api/auth/me": { body: { id: "u1", email: "a@example.test", organizations: [], csrf_token: "fresh" } },
      "POST /api/things": (call) =>
        call.headers["X-CSRF-Token"] === "fresh"
          ? { status: 201, body: { id: 1 } }
          : {
              status: 403,
              contentType: "application/problem+json",
              body: { type: "urn:questbridge:problem:csrf-failed", title: "Forbidden", status: 403, detail: "stale token" },
            },
    });
    setCsrfToken("stale");
    await expect(api("/api/things", { method: "POST", body: {} })).resolves.toEqual({ id: 1 });
    expect(server.to("POST /api/things").map((call) => call.headers["X-CSRF-Token"])).toEqual(["stale", "fresh"]);
    setCsrfToken(null);
  });

  it("does not resend a request refused for any other reason", async () => {
    const server = new FakeApi({ "POST /api/things": problem(403, "Forbidden", "only organization admins may do this") });
    setCsrfToken("token");
    const error = await failure(api("/api/things", { method: "POST", body: {} }));
    expect(error.status).toBe(403);
    expect(server.to("POST /api/things")).toHaveLength(1);
    expect(server.to("GET /api/auth/me")).toHaveLength(0);
    setCsrfToken(null);
  });

  it("gives null for 204", async () => {
    new FakeApi({ "DELETE /api/things/1": { status: 204 } });
    await expect(api("/api/things/1", { method: "DELETE" })).resolves.toBeNull();
  });

  it("reads a 404 problem as not found, never as a missing feature", async () => {
    new FakeApi({ "GET /api/webhooks/deliveries/d1": problem(404, "Not Found", "delivery not found") });
    const missing = await failure(api("/api/webhooks/deliveries/d1"));
    expect(missing.notFound).toBe(true);
    expect(missing.unavailable).toBe(false);
    expect(missing.detail).toBe("delivery not found");
    // Flask's own 404 for an unknown path is problem+json too: still "not found".
    const unrouted = await failure(api("/api/webhooks/deliveries/not-a-uuid"));
    expect(unrouted.notFound).toBe(true);
    expect(unrouted.unavailable).toBe(false);
  });

  it("marks 405, 501 and a 404 that is not problem+json as an unavailable endpoint", async () => {
    new FakeApi({
      "GET /v1/old": problem(405, "Method Not Allowed", "The method is not allowed for the requested URL."),
      "GET /v1/later": problem(501, "Not Implemented", "not yet"),
      "GET /v1/proxied": { status: 404, body: "<html>nginx</html>", contentType: "text/html" },
      "GET /v1/json404": { status: 404, body: { message: "nope" } },
    });
    for (const path of ["/v1/old", "/v1/later", "/v1/proxied", "/v1/json404"]) {
      const error = await failure(api(path));
      expect(error.unavailable, path).toBe(true);
      expect(error.notFound, path).toBe(false);
    }
  });

  it("turns an unreachable server into a readable network error", async () => {
    vi.stubGlobal("fetch", vi.fn(() => Promise.reject(new TypeError("Failed to fetch"))));
    const error = await failure(api("/api/auth/me"));
    expect(error.status).toBe(0);
    expect(error.title).toBe("Network error");
  });

  it("tells the app when the session has ended, unless asked not to", async () => {
    new FakeApi({ "GET /api/private": problem(401, "Unauthorized", "sign in first") });
    const listener = vi.fn();
    const stop = onUnauthorized(listener);
    await api("/api/private").catch(() => undefined);
    await api("/api/private", { quietUnauthorized: true }).catch(() => undefined);
    stop();
    await api("/api/private").catch(() => undefined);
    expect(listener).toHaveBeenCalledTimes(1);
  });

  it("builds query strings without empty values", () => {
    expect(withQuery("/a", { b: "1", c: null, d: undefined, e: "", f: 0 })).toBe("/a?b=1&f=0");
    expect(withQuery("/a?x=1", { b: 2 })).toBe("/a?x=1&b=2");
    expect(withQuery("/a")).toBe("/a");
  });
});
