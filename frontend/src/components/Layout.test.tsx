import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { empty, renderApp } from "../test/app";
import { FakeApi, ORG, OTHER_ORG } from "../test/server";

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
