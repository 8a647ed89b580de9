import { screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { renderApp, SUBSCRIPTION } from "../../test/app";
import { FakeApi, ME } from "../../test/server";

describe("the audit log", () => {
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
});
