import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { empty, renderApp } from "../../test/app";
import { FakeApi, OTHER_ORG, problem } from "../../test/server";

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
