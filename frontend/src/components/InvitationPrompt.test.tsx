import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { empty, INVITER, NEW_ORG, renderApp } from "../test/app";
import { FakeApi, ME, OTHER_ORG } from "../test/server";

describe("the invitation prompt", () => {
  const OFFER = {
    id: "55555555-5555-4555-8555-555555555555",
    organization: { id: NEW_ORG.id, name: NEW_ORG.name },
    role: "member",
    invited_by: INVITER,
    created_at: "2026-12-07T10:00:00Z",
    expires_at: "2026-12-14T10:00:00Z",
  };

  it("offers a signed-in user their invitations; accepting joins and switches to the organization", async () => {
    const user = userEvent.setup();
    const me = { ...ME, invitations: [OFFER] };
    const server = new FakeApi({
      "GET /api/auth/me": () => ({ body: me }),
      [`POST /api/invitations/${OFFER.id}/accept`]: () => {
        me.organizations = [...ME.organizations, NEW_ORG];
        me.invitations = [];
        return { body: { organization: NEW_ORG } };
      },
      "GET /api/audit": { body: empty },
    });
    renderApp("/audit");

    const prompt = await screen.findByRole("region", { name: "An invitation for you" });
    expect(prompt).toHaveTextContent("mallory@labs.example invited you to join Mallory Labs as member.");
    await user.click(within(prompt).getByRole("button", { name: "Accept the invitation to Mallory Labs" }));

    await waitFor(() => expect(screen.queryByRole("region", { name: "An invitation for you" })).not.toBeInTheDocument());
    expect(screen.getByLabelText("Organization")).toHaveValue(NEW_ORG.id);
    expect(server.to(`POST /api/invitations/${OFFER.id}/accept`)).toHaveLength(1);
  });

  it("declines, and the organization is never joined", async () => {
    const user = userEvent.setup();
    const me = { ...ME, invitations: [OFFER] };
    const server = new FakeApi({
      "GET /api/auth/me": () => ({ body: me }),
      [`POST /api/invitations/${OFFER.id}/decline`]: () => {
        me.invitations = [];
        return { status: 204 };
      },
      "GET /api/audit": { body: empty },
    });
    renderApp("/audit");

    await user.click(await screen.findByRole("button", { name: "Decline the invitation to Mallory Labs" }));

    await waitFor(() => expect(screen.queryByRole("region", { name: "An invitation for you" })).not.toBeInTheDocument());
    expect(server.to(`POST /api/invitations/${OFFER.id}/accept`)).toHaveLength(0);
    expect(screen.getByLabelText("Organization")).toHaveValue(OTHER_ORG.id);
  });
});
