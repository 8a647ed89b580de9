import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { empty, renderApp } from "../../test/app";
import { FakeApi, OTHER_ORG } from "../../test/server";

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
