import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { CATALOG, DELIVERY, empty, renderApp, SUBSCRIPTION, UNKNOWN } from "../../test/app";
import { FakeApi, OTHER_ORG, problem } from "../../test/server";

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
