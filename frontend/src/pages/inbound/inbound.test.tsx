import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { AutograderSecret } from "../../api/inbound";
import { empty, renderApp, UNKNOWN } from "../../test/app";
import { FakeApi, ME, OTHER_ORG, problem } from "../../test/server";

describe("inbound events", () => {
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
