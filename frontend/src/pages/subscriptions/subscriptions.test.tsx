import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { CATALOG, DELIVERY, empty, renderApp, SUBSCRIPTION } from "../../test/app";
import { FakeApi, OTHER_ORG, problem } from "../../test/server";

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
