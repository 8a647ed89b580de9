import { act, render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter, useLocation } from "react-router-dom";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { AutograderSecret } from "../api/inbound";
import { AppRoutes, safeNext } from "../App";
import { AuthProvider } from "../auth";
import { FakeApi, ME, ORG, OTHER_ORG, problem } from "../test/server";

function Where() {
  const location = useLocation();
  return <output data-testid="location">{`${location.pathname}${location.search}`}</output>;
}

function renderApp(path: string) {
  return render(
    <AuthProvider>
      <MemoryRouter initialEntries={[path]}>
        <AppRoutes />
        <Where />
      </MemoryRouter>
    </AuthProvider>,
  );
}

const CATALOG = {
  data: [
    { type: "task.completed", description: "A learner completed a task." },
    { type: "quest.completed", description: "A learner completed a quest." },
  ],
};

const SUBSCRIPTION = {
  id: "aaaaaaaa-0000-4000-8000-000000000001",
  organization_id: ORG.id,
  target_url: "https://lms.example.org/hooks",
  description: "Canvas",
  event_types: ["task.completed"],
  active: true,
  created_at: "2026-11-22T10:00:00Z",
};

const DELIVERY = {
  id: "dddddddd-0000-4000-8000-000000000001",
  event_id: "eeeeeeee-0000-4000-8000-000000000001",
  subscription_id: SUBSCRIPTION.id,
  event_type: "task.completed",
  status: "dead",
  attempts: 5,
  next_attempt_at: null,
  last_status_code: 500,
  last_error: "HTTP 500",
  created_at: "2026-11-22T10:01:00Z",
  delivered_at: null,
};

const empty = { data: [], next_cursor: null };
const UNKNOWN = "0f0f0f0f-0000-4000-8000-00000000dead";

afterEach(() => {
  vi.useRealTimers();
});

describe("sign-in", () => {
  it("sends a signed-out visitor to the login page, keeping where they were going", async () => {
    new FakeApi({ "GET /api/auth/me": problem(401, "Unauthorized", "sign in first") });
    renderApp("/deliveries?status=dead");
    expect(await screen.findByRole("button", { name: "Sign in" })).toBeInTheDocument();
    expect(screen.getByTestId("location")).toHaveTextContent("/login?next=%2Fdeliveries%3Fstatus%3Ddead");
  });

  it("shows the server's reason for a refused sign-in, then signs in and goes on", async () => {
    const user = userEvent.setup();
    let signedIn = false;
    const server = new FakeApi({
      "GET /api/auth/me": () => (signedIn ? { body: ME } : problem(401, "Unauthorized", "sign in first")),
      "POST /api/auth/login": (call) => {
        if ((call.body as { password: string }).password !== "right") return problem(401, "Unauthorized", "invalid email or password");
        signedIn = true;
        return { body: { access_token: "x", user: { id: "u1", email: ME.email } } };
      },
      "GET /api/webhooks/deliveries": { body: empty },
      "GET /api/webhooks/subscriptions": { body: empty },
      "GET /api/webhooks/event-types": { body: CATALOG },
    });
    renderApp("/deliveries");
    await user.type(await screen.findByLabelText("Email"), ME.email);
    await user.type(screen.getByLabelText("Password"), "wrong{Enter}");
    expect(await screen.findByRole("alert")).toHaveTextContent("invalid email or password");
    expect(screen.getByLabelText("Password")).toHaveValue("");
    await user.type(screen.getByLabelText("Password"), "right{Enter}");
    expect(await screen.findByRole("heading", { level: 1, name: "Deliveries" })).toBeInTheDocument();
    expect(screen.getByTestId("location")).toHaveTextContent("/deliveries");
    expect(server.to("POST /api/auth/login")[1].body).toEqual({ email: ME.email, password: "right" });
  });

  it("only follows next= inside the app", () => {
    expect(safeNext("/subscriptions")).toBe("/subscriptions");
    expect(safeNext("//evil.example")).toBe("/");
    expect(safeNext("https://evil.example")).toBe("/");
    expect(safeNext("/login")).toBe("/");
    expect(safeNext(null)).toBe("/");
  });

  it("asks for a new password first when one must be changed", async () => {
    new FakeApi({ "GET /api/auth/me": { body: { ...ME, must_change_password: true } } });
    renderApp("/");
    expect(await screen.findByRole("heading", { name: "Choose a new password" })).toBeInTheDocument();
  });

  it("logs out", async () => {
    const user = userEvent.setup();
    let signedIn = true;
    new FakeApi({
      "GET /api/auth/me": () => (signedIn ? { body: ME } : problem(401, "Unauthorized", "sign in first")),
      "POST /api/auth/logout": () => {
        signedIn = false;
        return { status: 204 };
      },
    });
    renderApp("/audit");
    await user.click(await screen.findByRole("button", { name: "Log out" }));
    expect(await screen.findByRole("button", { name: "Sign in" })).toBeInTheDocument();
  });
});

describe("organization switcher", () => {
  it("scopes every page to the chosen organization and remembers it", async () => {
    const user = userEvent.setup();
    const server = new FakeApi({ "GET /api/audit": { body: empty } });
    renderApp("/audit");
    await screen.findByText("Nothing recorded yet");
    expect(server.to("GET /api/audit").at(-1)!.query.get("organization_id")).toBe(OTHER_ORG.id);
    await user.selectOptions(screen.getByLabelText("Organization"), "Riverside Academy");
    await waitFor(() => expect(server.to("GET /api/audit").at(-1)!.query.get("organization_id")).toBe(ORG.id));
    expect(window.localStorage.getItem("questbridge.admin.organization")).toBe(ORG.id);
  });
});

describe("dashboard", () => {
  it("shows counts, queue depth and charts, marks a missing endpoint unavailable, and refreshes every 5 s", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    let delivered = 7;
    const server = new FakeApi({
      "GET /v1/monitoring/webhooks/metrics": () => ({
        body: { delivered, failed: 2, dead: 1, pending: 3, retrying: 4, delivering: 1, avg_retry_count: 0.25, p50_latency_ms: 40, p99_latency_ms: 1500 },
      }),
      "GET /v1/monitoring/webhooks/timeseries": {
        body: {
          data: [
            { t: "2026-11-22T10:00:00Z", delivered: 1, failed: 0, success_rate: 1, p50_latency_ms: 30, p99_latency_ms: 90 },
            { t: "2026-11-22T10:01:00Z", delivered: 1, failed: 1, success_rate: 0.5, p50_latency_ms: 50, p99_latency_ms: 120 },
          ],
        },
      },
      "GET /api/webhooks/deliveries": { body: { data: [DELIVERY], next_cursor: null } },
      "GET /v1/monitoring/external/keys": problem(501, "Not Implemented", "not offered by this server"),
    });
    renderApp("/");
    const cards = await screen.findByTestId("metric-cards");
    expect(within(cards).getByText("Queue depth").parentElement).toHaveTextContent("8");
    expect(within(cards).getByText("Delivered").parentElement).toHaveTextContent("7");
    expect(within(cards).getByText("Latency p99").parentElement).toHaveTextContent("1.50 s");
    expect(screen.getByRole("img", { name: /^Success rate, 2 points/ })).toBeInTheDocument();
    expect(screen.getByRole("img", { name: /^Latency, 2 points/ })).toBeInTheDocument();
    expect(await screen.findByText("API key usage is unavailable")).toBeInTheDocument();
    expect(screen.getByTestId("recent-deliveries")).toHaveTextContent("task.completed");

    delivered = 9;
    const before = server.to("GET /v1/monitoring/webhooks/metrics").length;
    await act(async () => {
      await vi.advanceTimersByTimeAsync(5000);
    });
    expect(server.to("GET /v1/monitoring/webhooks/metrics").length).toBe(before + 1);
    await waitFor(() => expect(within(cards).getByText("Delivered").parentElement).toHaveTextContent("9"));
  });

  it("shows API key usage by tier when the server has it", async () => {
    new FakeApi({
      "GET /v1/monitoring/external/keys": {
        body: { data: [{ tier: "pro", keys: 2, requests_today: 340, unique_consumers: 3, rate_limit_hits: 1 }] },
      },
    });
    renderApp("/");
    const region = await screen.findByRole("region", { name: "API key usage by tier" });
    expect(await within(region).findByRole("rowheader", { name: "pro" })).toBeInTheDocument();
    expect(within(region).getByRole("cell", { name: "340" })).toBeInTheDocument();
  });
});

describe("subscriptions", () => {
  it("shows an empty state, then creates one and shows its secret once", async () => {
    const user = userEvent.setup();
    const server = new FakeApi({
      "GET /api/webhooks/subscriptions": { body: empty },
      "GET /api/webhooks/event-types": { body: CATALOG },
      "POST /api/webhooks/subscriptions": (call) => {
        const body = call.body as { target_url: string };
        if (!body.target_url.startsWith("https://")) {
          return problem(422, "Validation Failed", "target_url: must use https", { target_url: ["must use https"] });
        }
        return { status: 201, body: { ...SUBSCRIPTION, ...body, secret: "whsec_c2VjcmV0" } };
      },
    });
    renderApp("/subscriptions");
    expect(await screen.findByText("No subscriptions yet")).toBeInTheDocument();
    await user.click(screen.getByRole("link", { name: "New subscription" }));
    await user.click(screen.getByRole("button", { name: "Create subscription" }));
    expect(screen.getByText("Choose at least one event type.")).toBeInTheDocument();
    expect(server.to("POST /api/webhooks/subscriptions")).toHaveLength(0);

    await user.type(screen.getByLabelText("Target URL"), "http://lms.example.org/hooks");
    await user.click(await screen.findByRole("checkbox", { name: /task\.completed/ }));
    await user.click(screen.getByRole("button", { name: "Create subscription" }));
    expect(await screen.findByText("must use https")).toBeInTheDocument();
    expect(screen.getByLabelText("Target URL")).toHaveAttribute("aria-invalid", "true");

    await user.clear(screen.getByLabelText("Target URL"));
    await user.type(screen.getByLabelText("Target URL"), "https://lms.example.org/hooks");
    await user.click(screen.getByRole("button", { name: "Create subscription" }));
    expect(await screen.findByRole("heading", { name: "Subscription created" })).toBeInTheDocument();
    expect(screen.getByTestId("secret-value")).toHaveValue("whsec_c2VjcmV0");
    expect(server.to("POST /api/webhooks/subscriptions").at(-1)!.body).toEqual({
      organization_id: OTHER_ORG.id,
      target_url: "https://lms.example.org/hooks",
      event_types: ["task.completed"],
      description: "",
    });
  });

  it("edits, tests, rotates and deletes a subscription", async () => {
    const user = userEvent.setup();
    const server = new FakeApi({
      [`GET /api/webhooks/subscriptions/${SUBSCRIPTION.id}`]: { body: SUBSCRIPTION },
      "GET /api/webhooks/event-types": { body: CATALOG },
      [`PUT /api/webhooks/subscriptions/${SUBSCRIPTION.id}`]: (call) => ({ body: { ...SUBSCRIPTION, ...(call.body as object) } }),
      "POST /api/webhooks/test": {
        body: {
          delivery_id: DELIVERY.id,
          event_id: DELIVERY.event_id,
          status: "retrying",
          attempt: { attempt: 1, started_at: "2026-11-22T10:00:00Z", duration_ms: 120, status_code: 503, error: "HTTP 503", response_body: "down for maintenance" },
        },
      },
      [`POST /api/webhooks/subscriptions/${SUBSCRIPTION.id}/rotate-secret`]: { body: { id: SUBSCRIPTION.id, secret: "whsec_bmV3" } },
      [`DELETE /api/webhooks/subscriptions/${SUBSCRIPTION.id}`]: { status: 204 },
      "GET /api/webhooks/subscriptions": { body: empty },
    });
    renderApp(`/subscriptions/${SUBSCRIPTION.id}`);
    await user.click(await screen.findByRole("checkbox", { name: /quest\.completed/ }));
    await user.click(screen.getByRole("checkbox", { name: /^Active/ }));
    await user.click(screen.getByRole("button", { name: "Save changes" }));
    expect(await screen.findByText("Subscription saved.")).toBeInTheDocument();
    expect(server.to(`PUT /api/webhooks/subscriptions/${SUBSCRIPTION.id}`)[0].body).toEqual({
      target_url: SUBSCRIPTION.target_url,
      event_types: ["task.completed", "quest.completed"],
      active: false,
      description: "Canvas",
    });

    await user.click(screen.getByRole("button", { name: "Send test event" }));
    const result = await screen.findByTestId("test-result");
    expect(result).toHaveTextContent("did not accept");
    expect(result).toHaveTextContent("503");
    expect(result).toHaveTextContent("down for maintenance");

    await user.click(screen.getByRole("button", { name: "Rotate secret…" }));
    const dialog = screen.getByRole("dialog", { name: "Rotate the signing secret" });
    await user.click(within(dialog).getByRole("radio", { name: "1 hour" }));
    await user.click(within(dialog).getByRole("button", { name: "Rotate" }));
    expect(await screen.findByTestId("secret-value")).toHaveValue("whsec_bmV3");
    expect(server.to(`POST /api/webhooks/subscriptions/${SUBSCRIPTION.id}/rotate-secret`)[0].body).toEqual({ grace_seconds: 3600 });

    await user.click(screen.getByRole("button", { name: "Delete subscription…" }));
    await user.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Delete" }));
    expect(await screen.findByRole("heading", { level: 1, name: "Subscriptions" })).toBeInTheDocument();
    expect(server.to(`DELETE /api/webhooks/subscriptions/${SUBSCRIPTION.id}`)).toHaveLength(1);
  });
});

describe("test sends", () => {
  it("shows a queued test event with a link to its delivery, then the reason a send is refused", async () => {
    const user = userEvent.setup();
    let sends = 0;
    const server = new FakeApi({
      [`GET /api/webhooks/subscriptions/${SUBSCRIPTION.id}`]: { body: SUBSCRIPTION },
      "GET /api/webhooks/event-types": { body: CATALOG },
      "POST /api/webhooks/test": () => {
        sends += 1;
        if (sends === 1) return { status: 202, body: { delivery_id: DELIVERY.id, event_id: DELIVERY.event_id, status: "delivering" } };
        return problem(
          429,
          "Too Many Requests",
          "this organization already has 3 test events waiting or being sent, the most it may have at once; try again in 15 seconds",
        );
      },
      [`GET /api/webhooks/deliveries/${DELIVERY.id}`]: { body: { ...DELIVERY, status: "delivering", attempts_log: [] } },
      "GET /api/webhooks/subscriptions": { body: empty },
    });
    renderApp(`/subscriptions/${SUBSCRIPTION.id}`);

    await user.click(await screen.findByRole("button", { name: "Send test event" }));
    const result = await screen.findByTestId("test-result");
    expect(result).toHaveTextContent("delivering");
    expect(result).toHaveTextContent("Queued: the receiver has not answered yet.");
    expect(result).not.toHaveTextContent("HTTP status");
    expect(server.to("POST /api/webhooks/test")[0].body).toEqual({ subscription_id: SUBSCRIPTION.id });

    await user.click(screen.getByRole("button", { name: "Send test event" }));
    const refused = await screen.findByRole("alert");
    expect(refused).toHaveTextContent("Too Many Requests");
    expect(refused).toHaveTextContent("already has 3 test events waiting or being sent");
    expect(refused).toHaveTextContent("try again in 15 seconds");
    expect(screen.queryByTestId("test-result")).not.toBeInTheDocument();

    sends = 0; // room again: queued, and followed to the delivery log
    await user.click(screen.getByRole("button", { name: "Send test event" }));
    await user.click(within(await screen.findByTestId("test-result")).getByRole("link", { name: "Follow the delivery" }));
    expect(await screen.findByRole("heading", { level: 1, name: "Delivery" })).toBeInTheDocument();
    expect(screen.getByTestId("location")).toHaveTextContent(`/deliveries/${DELIVERY.id}`);
  });
});

describe("deliveries", () => {
  it("filters by status, event type and subscription through the address", async () => {
    const user = userEvent.setup();
    const server = new FakeApi({
      "GET /api/webhooks/deliveries": { body: { data: [DELIVERY], next_cursor: "c1" } },
      "GET /api/webhooks/subscriptions": { body: { data: [SUBSCRIPTION], next_cursor: null } },
      "GET /api/webhooks/event-types": { body: CATALOG },
    });
    renderApp("/deliveries");
    const table = await screen.findByTestId("deliveries-table");
    expect(table).toHaveTextContent("https://lms.example.org/hooks");
    await user.selectOptions(screen.getByLabelText("Status"), "dead");
    await user.type(screen.getByLabelText("Event type"), "task.completed");
    await user.selectOptions(screen.getByLabelText("Subscription"), SUBSCRIPTION.id);
    await waitFor(() => {
      const query = server.to("GET /api/webhooks/deliveries").at(-1)!.query;
      expect(query.get("status")).toBe("dead");
      expect(query.get("event_type")).toBe("task.completed");
      expect(query.get("subscription_id")).toBe(SUBSCRIPTION.id);
    });
    expect(screen.getByTestId("location")).toHaveTextContent(`status=dead&event_type=task.completed&subscription_id=${SUBSCRIPTION.id}`);

    await user.click(screen.getByRole("button", { name: "Load more" }));
    await waitFor(() => expect(server.to("GET /api/webhooks/deliveries").at(-1)!.query.get("cursor")).toBe("c1"));
  });

  it("filters by a partner's custom event type, typed or picked from the types seen, and refuses a malformed one", async () => {
    const user = userEvent.setup();
    const custom = { ...DELIVERY, id: "dddddddd-0000-4000-8000-000000000002", event_type: "partner.badge_synced" };
    const server = new FakeApi({
      "GET /api/webhooks/deliveries": { body: { data: [DELIVERY, custom], next_cursor: null } },
      "GET /api/webhooks/subscriptions": { body: { data: [SUBSCRIPTION], next_cursor: null } },
      "GET /api/webhooks/event-types": { body: CATALOG },
    });
    renderApp("/deliveries");
    await screen.findByTestId("deliveries-table");
    const input = screen.getByLabelText("Event type");
    const listed = () => Array.from(document.querySelectorAll(`datalist[id="${input.getAttribute("list")}"] option`)).map((o) => o.getAttribute("value"));
    await waitFor(() => expect(listed()).toEqual(["task.completed", "quest.completed", "partner.badge_synced"]));

    await user.type(input, "Partner Thing{Enter}");
    expect(input).toHaveAttribute("aria-invalid", "true");
    expect(input).toHaveAccessibleDescription(/dotted lower-case name/);
    expect(server.calls.some((call) => call.query.get("event_type"))).toBe(false);

    await user.clear(input);
    expect(input).toHaveAttribute("aria-invalid", "false");
    await user.type(input, "lti.grade_passback.v2{Enter}");
    await waitFor(() => expect(server.to("GET /api/webhooks/deliveries").at(-1)!.query.get("event_type")).toBe("lti.grade_passback.v2"));
    expect(screen.getByTestId("location")).toHaveTextContent("event_type=lti.grade_passback.v2");

    await user.clear(input);
    await waitFor(() => expect(server.to("GET /api/webhooks/deliveries").at(-1)!.query.get("event_type")).toBeNull());
    await user.type(input, "partner.badge_synced"); // one of the suggestions: applies without Enter
    await waitFor(() => expect(server.to("GET /api/webhooks/deliveries").at(-1)!.query.get("event_type")).toBe("partner.badge_synced"));
  });

  it("redelivers every dead delivery of the organization in one request after confirmation", async () => {
    const user = userEvent.setup();
    const second = { ...SUBSCRIPTION, id: "aaaaaaaa-0000-4000-8000-000000000002", target_url: "https://two.example.org/" };
    const server = new FakeApi({
      "GET /api/webhooks/deliveries": { body: { data: [DELIVERY], next_cursor: null } },
      "GET /api/webhooks/subscriptions": { body: { data: [SUBSCRIPTION, second], next_cursor: null } },
      "GET /api/webhooks/event-types": { body: CATALOG },
      "POST /api/webhooks/deliveries/redeliver-dead": { status: 202, body: { count: 3 } },
    });
    renderApp("/deliveries");
    await screen.findByTestId("deliveries-table");
    await user.click(screen.getByRole("button", { name: "Redeliver dead…" }));
    await user.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Redeliver dead" }));
    expect(await screen.findByText("3 dead deliveries queued again.")).toBeInTheDocument();
    expect(server.calls.filter((call) => call.path.endsWith("/redeliver-dead")).map((call) => call.path)).toEqual([
      "/api/webhooks/deliveries/redeliver-dead",
    ]);
    expect(server.to("POST /api/webhooks/deliveries/redeliver-dead")[0].body).toEqual({ organization_id: OTHER_ORG.id });
  });

  it("redelivers the dead deliveries of the chosen subscription only", async () => {
    const user = userEvent.setup();
    const server = new FakeApi({
      "GET /api/webhooks/deliveries": { body: { data: [DELIVERY], next_cursor: null } },
      "GET /api/webhooks/subscriptions": { body: { data: [SUBSCRIPTION], next_cursor: null } },
      "GET /api/webhooks/event-types": { body: CATALOG },
      [`POST /api/webhooks/subscriptions/${SUBSCRIPTION.id}/redeliver-dead`]: { status: 202, body: { count: 1 } },
    });
    renderApp(`/deliveries?subscription_id=${SUBSCRIPTION.id}`);
    await screen.findByTestId("deliveries-table");
    await user.click(screen.getByRole("button", { name: "Redeliver dead…" }));
    const dialog = screen.getByRole("dialog");
    expect(dialog).toHaveTextContent("Every dead delivery of https://lms.example.org/hooks is queued again.");
    await user.click(within(dialog).getByRole("button", { name: "Redeliver dead" }));
    expect(await screen.findByText("1 dead delivery queued again.")).toBeInTheDocument();
    expect(server.calls.filter((call) => call.path.endsWith("/redeliver-dead")).map((call) => call.path)).toEqual([
      `/api/webhooks/subscriptions/${SUBSCRIPTION.id}/redeliver-dead`,
    ]);
  });

  it("shows the server's reason when bulk redelivery is refused", async () => {
    const user = userEvent.setup();
    new FakeApi({
      "GET /api/webhooks/deliveries": { body: { data: [DELIVERY], next_cursor: null } },
      "GET /api/webhooks/subscriptions": { body: empty },
      "GET /api/webhooks/event-types": { body: CATALOG },
      "POST /api/webhooks/deliveries/redeliver-dead": problem(403, "Forbidden", "organization admins only"),
    });
    renderApp("/deliveries");
    await screen.findByTestId("deliveries-table");
    await user.click(screen.getByRole("button", { name: "Redeliver dead…" }));
    await user.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Redeliver dead" }));
    expect(await within(screen.getByRole("dialog")).findByRole("alert")).toHaveTextContent("organization admins only");
  });

  it("shows every attempt of a delivery and redelivers it", async () => {
    const user = userEvent.setup();
    const server = new FakeApi({
      [`GET /api/webhooks/deliveries/${DELIVERY.id}`]: {
        body: {
          ...DELIVERY,
          attempts_log: [
            { attempt: 1, started_at: "2026-11-22T10:01:00Z", duration_ms: 5000, status_code: null, error: "timed out", response_body: null },
            { attempt: 2, started_at: "2026-11-22T10:02:00Z", duration_ms: 80, status_code: 500, error: "HTTP 500", response_body: '{"error":"boom"}' },
          ],
        },
      },
      [`POST /api/webhooks/deliveries/${DELIVERY.id}/redeliver`]: { status: 202, body: { id: DELIVERY.id, status: "pending" } },
    });
    renderApp(`/deliveries/${DELIVERY.id}`);
    const attempts = await screen.findByTestId("attempts-table");
    const rows = within(attempts).getAllByRole("row").slice(1);
    expect(rows[0]).toHaveTextContent("timed out");
    expect(rows[0]).toHaveTextContent("5.00 s");
    expect(rows[1]).toHaveTextContent("500");
    expect(rows[1]).toHaveTextContent('{"error":"boom"}');
    await user.click(screen.getByRole("button", { name: "Redeliver" }));
    expect(await screen.findByText(/Queued again/)).toBeInTheDocument();
    expect(server.to(`POST /api/webhooks/deliveries/${DELIVERY.id}/redeliver`)).toHaveLength(1);
  });
});

describe("a delivery that does not exist", () => {
  it("is not found, with the server's detail, for an unknown id", async () => {
    new FakeApi({ [`GET /api/webhooks/deliveries/${UNKNOWN}`]: problem(404, "Not Found", "delivery not found") });
    renderApp(`/deliveries/${UNKNOWN}`);
    expect(await screen.findByRole("alert")).toHaveTextContent(/^Delivery not found$/);
    expect(screen.getByRole("link", { name: "← All deliveries" })).toBeInTheDocument();
    expect(screen.queryByText(/unavailable|Update the server/)).not.toBeInTheDocument();
  });

  it("is not found for an id that is not a UUID (the server's route 404)", async () => {
    new FakeApi(); // unrouted: Flask's problem+json 404
    renderApp("/deliveries/not-a-uuid");
    expect(await screen.findByText("Delivery not found")).toBeInTheDocument();
    expect(screen.getByText("The requested URL was not found on the server.")).toBeInTheDocument();
    expect(screen.queryByText(/unavailable|Update the server/)).not.toBeInTheDocument();
  });
});

describe("API keys", () => {
  const KEY = {
    key_id: "k_1234abcd",
    name: "Canvas",
    tier: "starter",
    ip_allowlist: [],
    status: "active",
    created_at: "2026-11-22T10:00:00Z",
    last_used_at: null,
  };

  const LIMITS_PATH = `/api/organizations/${OTHER_ORG.id}/limits`;
  const STARTER = { tier: "starter", per_day: 1000, per_minute: 100 };
  const LIMITS = { organization_id: OTHER_ORG.id, allowed_tiers: ["starter"], max_api_keys: 5, api_keys: 1, tiers: [STARTER] };

  it("creates a key with tier and allowlist and shows it once", async () => {
    const user = userEvent.setup();
    let held = 0;
    const server = new FakeApi({
      "GET /v1/admin/external/keys": { body: empty },
      [`GET ${LIMITS_PATH}`]: () => ({
        body: { ...LIMITS, allowed_tiers: ["starter", "enterprise"], api_keys: held, tiers: [STARTER, { tier: "enterprise", per_day: 100000, per_minute: 10000 }] },
      }),
      "POST /v1/admin/external/keys": (call) => {
        held += 1;
        return { status: 201, body: { ...KEY, ...(call.body as object), api_key: "qb_live_secret" } };
      },
    });
    renderApp("/api-keys");
    expect(await screen.findByText("No API keys yet")).toBeInTheDocument();
    await user.click(await screen.findByRole("button", { name: "New API key" }));
    await user.type(screen.getByLabelText("Name"), "Canvas");
    await user.selectOptions(screen.getByLabelText("Tier"), "enterprise");
    await user.type(screen.getByLabelText("IP allowlist (optional)"), "203.0.113.0/24{Enter}2001:db8::/32");
    await user.click(screen.getByRole("button", { name: "Create key" }));
    expect(await screen.findByTestId("secret-value")).toHaveValue("qb_live_secret");
    expect(server.to("POST /v1/admin/external/keys")[0].body).toEqual({
      organization_id: OTHER_ORG.id,
      name: "Canvas",
      tier: "enterprise",
      ip_allowlist: ["203.0.113.0/24", "2001:db8::/32"],
    });
    // The count against the limit is read again after the change.
    await waitFor(() => expect(screen.getByTestId("key-limits")).toHaveTextContent("1 of 5 keys in use"));
  });

  it("offers only the tiers the organization may issue, with the figures the server enforces", async () => {
    const user = userEvent.setup();
    new FakeApi({
      "GET /v1/admin/external/keys": { body: { data: [KEY], next_cursor: null } },
      [`GET ${LIMITS_PATH}`]: {
        body: { ...LIMITS, allowed_tiers: ["starter", "pro"], tiers: [{ tier: "starter", per_day: 2500, per_minute: 50 }, { tier: "pro", per_day: 20000, per_minute: 2000 }] },
      },
    });
    renderApp("/api-keys");
    expect(await screen.findByTestId("key-limits")).toHaveTextContent("1 of 5 keys in use; tiers: starter, pro.");
    await user.click(screen.getByRole("button", { name: "New API key" }));
    const options = within(screen.getByLabelText("Tier")).getAllByRole("option");
    expect(options.map((option) => option.textContent)).toEqual([
      "Starter (2,500 requests a day, 50 a minute)",
      "Pro (20,000 requests a day, 2,000 a minute)",
    ]);
    expect(screen.getByLabelText("Tier")).toHaveValue("starter");
  });

  it("at the limit, offers no new key and says who can raise it", async () => {
    new FakeApi({
      "GET /v1/admin/external/keys": { body: { data: [KEY], next_cursor: null } },
      [`GET ${LIMITS_PATH}`]: { body: { ...LIMITS, max_api_keys: 1 } },
    });
    renderApp("/api-keys");
    expect(await screen.findByTestId("key-limits")).toHaveTextContent("1 of 1 keys in use");
    expect(screen.getByTestId("key-limits")).toHaveTextContent("ask a platform admin to raise the limit");
    expect(screen.getByRole("button", { name: "New API key" })).toBeDisabled();
  });

  it("shows the server's refusal when a key is outside the limits after all", async () => {
    const user = userEvent.setup();
    new FakeApi({
      "GET /v1/admin/external/keys": { body: empty },
      [`GET ${LIMITS_PATH}`]: { body: { ...LIMITS, api_keys: 4 } },
      "POST /v1/admin/external/keys": problem(403, "Forbidden", "this organization may hold at most 5 API keys and holds 5", {
        organization_id: ["holds 5 of its 5 API keys"],
      }),
    });
    renderApp("/api-keys");
    await user.click(await screen.findByRole("button", { name: "New API key" }));
    await user.type(screen.getByLabelText("Name"), "Canvas");
    await user.click(screen.getByRole("button", { name: "Create key" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("may hold at most 5 API keys");
  });

  it("rotates with a choice of keeping the key id, and revokes after confirmation", async () => {
    const user = userEvent.setup();
    const server = new FakeApi({
      "GET /v1/admin/external/keys": { body: { data: [KEY], next_cursor: null } },
      [`GET ${LIMITS_PATH}`]: { body: LIMITS },
      [`POST /v1/admin/external/keys/${KEY.key_id}/rotate`]: (call) => ({
        body: { ...KEY, key_id: (call.body as { preserve_key_id: boolean }).preserve_key_id ? KEY.key_id : "k_new", api_key: "qb_rotated" },
      }),
      [`DELETE /v1/admin/external/keys/${KEY.key_id}`]: { status: 204 },
    });
    renderApp("/api-keys");
    await user.click(await screen.findByRole("button", { name: "Rotate…" }));
    const dialog = screen.getByRole("dialog");
    await user.click(within(dialog).getByRole("radio", { name: /New key id/ }));
    await user.click(within(dialog).getByRole("button", { name: "Rotate" }));
    expect(await screen.findByTestId("secret-value")).toHaveValue("qb_rotated");
    expect(screen.getByText("k_new")).toBeInTheDocument();
    expect(server.to(`POST /v1/admin/external/keys/${KEY.key_id}/rotate`)[0].body).toEqual({ preserve_key_id: false, grace_seconds: 86400 });

    await user.click(screen.getByRole("button", { name: "Revoke…" }));
    await user.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Revoke" }));
    expect(await screen.findByText("API key Canvas revoked.")).toBeInTheDocument();
    expect(server.to(`DELETE /v1/admin/external/keys/${KEY.key_id}`)).toHaveLength(1);
  });
});

describe("OAuth clients", () => {
  it("creates a client with redirect URIs and scopes and shows its secret once", async () => {
    const user = userEvent.setup();
    const server = new FakeApi({
      "GET /api/oauth/clients": { body: empty },
      "POST /api/oauth/clients": (call) => ({ status: 201, body: { ...(call.body as object), client_id: "qbc_1", client_secret: "qbs_secret" } }),
    });
    renderApp("/oauth-clients");
    await user.click(await screen.findByRole("button", { name: "New OAuth client" }));
    await user.type(screen.getByLabelText("Name"), "Moodle");
    await user.type(screen.getByLabelText("Redirect URIs"), "https://moodle.example.org/cb{Enter}http://127.0.0.1:9000/cb");
    await user.click(screen.getByRole("checkbox", { name: /read:quests/ }));
    await user.click(screen.getByRole("button", { name: "Create client" }));
    expect(await screen.findByTestId("secret-value")).toHaveValue("qbs_secret");
    expect(screen.getByTestId("client-id")).toHaveTextContent("qbc_1");
    expect(server.to("POST /api/oauth/clients")[0].body).toMatchObject({
      organization_id: OTHER_ORG.id,
      name: "Moodle",
      redirect_uris: ["https://moodle.example.org/cb", "http://127.0.0.1:9000/cb"],
      scopes: ["read:profile", "read:quests"],
      client_type: "confidential",
    });
  });

  it("rotates a client's secret and deletes a client", async () => {
    const user = userEvent.setup();
    const client = { client_id: "qbc_1", name: "Moodle", redirect_uris: ["https://m.example/cb"], scopes: ["read:profile"], client_type: "confidential" };
    const server = new FakeApi({
      "GET /api/oauth/clients": { body: { data: [client], next_cursor: null } },
      "POST /api/oauth/clients/qbc_1/rotate-secret": { body: { client_id: "qbc_1", client_secret: "qbs_new" } },
      "DELETE /api/oauth/clients/qbc_1": { status: 204 },
    });
    renderApp("/oauth-clients");
    await user.click(await screen.findByRole("button", { name: "Rotate secret…" }));
    await user.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Rotate" }));
    expect(await screen.findByTestId("secret-value")).toHaveValue("qbs_new");
    await user.click(screen.getByRole("button", { name: "Delete…" }));
    await user.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Delete" }));
    expect(await screen.findByText("Moodle deleted.")).toBeInTheDocument();
    expect(server.to("DELETE /api/oauth/clients/qbc_1")).toHaveLength(1);
    // The deleted client's secret is gone from the screen.
    expect(screen.queryByTestId("secret-value")).not.toBeInTheDocument();
    expect(screen.queryByText("New client secret")).not.toBeInTheDocument();
  });
});

describe("inbound events and audit log", () => {
  const EVENT = {
    id: "99999999-0000-4000-8000-000000000001",
    source: "autograder",
    type: "grade.posted",
    status: "dead",
    attempts: 3,
    error: "submission not found",
    received_at: "2026-11-22T10:00:00Z",
    processed_at: null,
  };

  it("lists inbound events with their status, shows one, and retries a dead one", async () => {
    const user = userEvent.setup();
    const server = new FakeApi({
      "GET /api/inbound/events": { body: { data: [EVENT, { ...EVENT, id: "99999999-0000-4000-8000-000000000002", status: "processed", error: null }], next_cursor: null } },
      [`GET /api/inbound/events/${EVENT.id}`]: { body: { ...EVENT, payload: { score: 9 } } },
      [`POST /api/inbound/events/${EVENT.id}/retry`]: { status: 202, body: { ...EVENT, status: "pending", attempts: 0 } },
    });
    renderApp("/inbound");
    const table = await screen.findByTestId("inbound-table");
    expect(within(table).getAllByRole("button", { name: "Retry" })).toHaveLength(1);
    await user.click(within(table).getByRole("button", { name: "Retry" }));
    expect(await screen.findByText(/queued for processing again/)).toBeInTheDocument();
    expect(server.to(`POST /api/inbound/events/${EVENT.id}/retry`)).toHaveLength(1);
    await user.click(within(table).getAllByRole("button", { name: "grade.posted" })[0]);
    expect(await screen.findByText(/"score": 9/)).toBeInTheDocument();
    await user.selectOptions(screen.getByLabelText("Status"), "dead");
    await waitFor(() => expect(server.to("GET /api/inbound/events").at(-1)!.query.get("status")).toBe("dead"));
  });

  it("shows who changed what in the audit log", async () => {
    new FakeApi({
      "GET /api/audit": {
        body: {
          data: [
            {
              id: "a1",
              action: "webhook_subscription.secret_rotated",
              actor_id: "u1",
              actor_email: ME.email,
              target_type: "webhook_subscription",
              target_id: SUBSCRIPTION.id,
              metadata: { grace_seconds: 86400 },
              ip: "127.0.0.1",
              created_at: "2026-11-22T10:00:00Z",
            },
          ],
          next_cursor: null,
        },
      },
    });
    renderApp("/audit");
    const table = await screen.findByTestId("audit-table");
    expect(table).toHaveTextContent("webhook_subscription.secret_rotated");
    expect(table).toHaveTextContent(ME.email);
    expect(table).toHaveTextContent("grace_seconds: 86400");
    expect(within(table).getByTitle(SUBSCRIPTION.id)).toHaveTextContent(SUBSCRIPTION.id);
  });

  it("shows whole target ids in the audit log, so clients that share a prefix stay apart", async () => {
    const entry = (id: string, target: string) => ({
      id,
      action: "oauth_client.created",
      actor_id: "u1",
      actor_email: null,
      target_type: "oauth_client",
      target_id: target,
      metadata: null,
      ip: "203.0.113.9",
      created_at: "2026-11-22T10:00:00Z",
    });
    new FakeApi({
      "GET /api/audit": {
        body: { data: [entry("a1", "qbc_mujcA1b2C3d4E5f6G7h8"), entry("a2", "qbc_mujcZ9y8X7w6V5u4T3s2")], next_cursor: null },
      },
    });
    renderApp("/audit");
    const table = await screen.findByTestId("audit-table");
    for (const target of ["qbc_mujcA1b2C3d4E5f6G7h8", "qbc_mujcZ9y8X7w6V5u4T3s2"]) {
      const id = within(table).getByText(target);
      expect(id).toHaveAttribute("title", target);
      expect(id).toHaveClass("id-clip");
    }
    expect(within(table).getAllByText("u1")).toHaveLength(2); // an actor without an email: the whole id
  });

  it("says a page is unavailable when the server lacks its endpoint", async () => {
    new FakeApi({ "GET /api/inbound/events": { status: 404, body: "<h1>Not Found</h1>", contentType: "text/html" } });
    renderApp("/inbound");
    expect(await screen.findByText("Inbound events is unavailable")).toBeInTheDocument();
  });

  it("says an unknown inbound event is not found, in the server's words", async () => {
    new FakeApi({
      "GET /api/inbound/events": { body: { data: [EVENT], next_cursor: null } },
      [`GET /api/inbound/events/${UNKNOWN}`]: problem(404, "Not Found", "inbound event not found"),
    });
    renderApp(`/inbound?event=${UNKNOWN}`);
    const panel = await screen.findByRole("region", { name: /^Event / });
    expect(await within(panel).findByRole("alert")).toHaveTextContent(/^Inbound event not found$/);
    expect(screen.queryByText(/unavailable|Update the server/)).not.toBeInTheDocument();
  });
});

describe("the organization's autograder secret", () => {
  const NONE: AutograderSecret = {
    organization_id: OTHER_ORG.id,
    configured: false,
    created_at: null,
    rotated_at: null,
    created_by: null,
    rotated_by: null,
    previous_secret_expires_at: null,
  };
  const MADE: AutograderSecret = { ...NONE, configured: true, created_at: "2026-12-07T10:00:00Z", rotated_at: "2026-12-07T10:00:00Z", created_by: "u1", rotated_by: "u1" };

  it("creates the secret and shows it once, then rotates it with a grace period", async () => {
    const user = userEvent.setup();
    let current = NONE;
    const server = new FakeApi({
      "GET /api/inbound/events": { body: empty },
      "GET /api/inbound/autograder-secrets": () => ({ body: current }),
      "POST /api/inbound/autograder-secrets/rotate": () => {
        const created = !current.configured;
        current = created ? MADE : { ...MADE, previous_secret_expires_at: "2026-12-08T10:00:00Z" };
        return { status: created ? 201 : 200, body: { ...current, secret: created ? "agsec_first" : "agsec_second" } };
      },
    });
    renderApp("/inbound");
    const panel = await screen.findByTestId("autograder-secret");
    expect(await within(panel).findByText(/no autograder secret of its own yet/)).toBeInTheDocument();
    expect(server.to("GET /api/inbound/autograder-secrets")[0].query.get("organization_id")).toBe(OTHER_ORG.id);

    await user.click(within(panel).getByRole("button", { name: "Create secret" }));
    expect(await within(panel).findByTestId("secret-value")).toHaveValue("agsec_first");
    expect(server.to("POST /api/inbound/autograder-secrets/rotate")[0].body).toEqual({ organization_id: OTHER_ORG.id, grace_seconds: 0 });
    await user.click(within(panel).getByRole("button", { name: "Done" }));
    expect(within(panel).queryByTestId("secret-value")).not.toBeInTheDocument();

    await user.click(await within(panel).findByRole("button", { name: "Rotate secret…" }));
    const dialog = screen.getByRole("dialog");
    await user.click(within(dialog).getByRole("radio", { name: "1 hour" }));
    await user.click(within(dialog).getByRole("button", { name: "Rotate" }));
    expect(await within(panel).findByTestId("secret-value")).toHaveValue("agsec_second");
    expect(server.to("POST /api/inbound/autograder-secrets/rotate")[1].body).toEqual({ organization_id: OTHER_ORG.id, grace_seconds: 3600 });
    expect(await within(panel).findByText("Previous secret verifies until")).toBeInTheDocument();
  });

  it("shows the server's reason when rotating is refused", async () => {
    const user = userEvent.setup();
    new FakeApi({
      "GET /api/inbound/events": { body: empty },
      "GET /api/inbound/autograder-secrets": { body: MADE },
      "POST /api/inbound/autograder-secrets/rotate": problem(422, "Validation Failed", "grace_seconds: must be between 0 and 604800", {
        grace_seconds: ["must be between 0 and 604800"],
      }),
    });
    renderApp("/inbound");
    await user.click(await screen.findByRole("button", { name: "Rotate secret…" }));
    await user.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Rotate" }));
    expect(await within(screen.getByRole("dialog")).findByText("must be between 0 and 604800")).toBeInTheDocument();
    expect(screen.queryByTestId("secret-value")).not.toBeInTheDocument();
  });

  it("is not offered to members, who may not see it", async () => {
    const server = new FakeApi({
      "GET /api/auth/me": { body: { ...ME, organizations: [{ ...OTHER_ORG, role: "member" }] } },
      "GET /api/inbound/events": { body: empty },
    });
    renderApp("/inbound");
    expect(await screen.findByText("No inbound events yet")).toBeInTheDocument();
    expect(screen.queryByTestId("autograder-secret")).not.toBeInTheDocument();
    expect(server.to("GET /api/inbound/autograder-secrets")).toHaveLength(0);
  });
});
