import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { empty, renderApp, rowWith } from "../../test/app";
import { FakeApi, OTHER_ORG, problem } from "../../test/server";

const ID = "cccccccc-0000-4000-8000-000000000001";

// Every tool address distinct, so a value shown under the wrong label fails.
const TOOL = {
  login_url: "https://qb.example/lti/login",
  launch_url: "https://qb.example/lti/launch",
  jwks_url: "https://qb.example/lti/jwks.json",
  redirect_uris: ["https://qb.example/lti/launch", "https://qb.example/lti/launch?window=new"],
  deep_linking_url: "https://qb.example/lti/launch?deep_link=1",
  canvas_config_url: `https://qb.example/lti/canvas.json?platform_id=${ID}`,
};

// What GET /api/lti/tool gives before any platform exists: Canvas's JSON URL has no platform_id.
const NEW_TOOL = { ...TOOL, canvas_config_url: "https://qb.example/lti/canvas.json" };

const PLATFORM = {
  id: ID,
  organization_id: OTHER_ORG.id,
  name: "Canvas (production)",
  issuer: "https://canvas.instructure.com",
  client_id: "10000000000042",
  deployment_ids: ["5:d3a2f0", "7:e9b1c4"],
  auth_login_url: "https://sso.canvaslms.com/api/lti/authorize_redirect",
  auth_token_url: "https://riverside.instructure.com/login/oauth2/token",
  key_set_url: "https://sso.canvaslms.com/api/lti/security/jwks",
  auth_token_audience: null,
  created_at: "2026-12-07T10:00:00Z",
  tool: TOOL,
};

const MOODLE = {
  ...PLATFORM,
  id: "cccccccc-0000-4000-8000-000000000002",
  name: "Moodle",
  issuer: "https://moodle.example.org",
  client_id: "Xa81kq",
  deployment_ids: ["3"],
};

/** Paste `text` into the field labelled `label` (typing long URLs key by key is slow). */
async function paste(user: ReturnType<typeof userEvent.setup>, label: string, text: string) {
  await user.click(screen.getByLabelText(label));
  await user.paste(text);
}

describe("LMS platforms", () => {
  it("lists the organization's platforms page by page", async () => {
    const user = userEvent.setup();
    const server = new FakeApi({
      "GET /api/lti/platforms": (call) =>
        call.query.get("cursor") === "page-2"
          ? { body: { data: [MOODLE], next_cursor: null } }
          : { body: { data: [PLATFORM], next_cursor: "page-2" } },
    });
    renderApp("/");
    await user.click(within(await screen.findByRole("navigation", { name: "Main" })).getByRole("link", { name: "LMS platforms" }));
    const table = await screen.findByTestId("platforms-table");
    const canvas = rowWith(table, "Canvas (production)");
    expect(canvas).toHaveTextContent("https://canvas.instructure.com");
    expect(canvas).toHaveTextContent("10000000000042");
    expect(canvas).toHaveTextContent("5:d3a2f0");
    expect(canvas).toHaveTextContent("7:e9b1c4");
    expect(within(canvas).getByRole("link", { name: "Canvas (production)" })).toHaveAttribute("href", `/lti-platforms/${ID}`);
    expect(server.to("GET /api/lti/platforms")[0].query.get("organization_id")).toBe(OTHER_ORG.id);

    await user.click(screen.getByRole("button", { name: "Load more" }));
    expect(rowWith(await screen.findByTestId("platforms-table"), "Xa81kq")).toHaveTextContent("Moodle");
    expect(await screen.findByText("Moodle")).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Load more" })).not.toBeInTheDocument();
  });

  it("shows what to paste into the LMS before asking for what it gave", async () => {
    const server = new FakeApi({ "GET /api/lti/tool": { body: NEW_TOOL } });
    renderApp("/lti-platforms/new");
    const paste = await screen.findByRole("region", { name: "1. Paste these into your LMS" });
    const canvas = await within(paste).findByRole("region", { name: "Canvas" });
    const moodle = within(paste).getByRole("region", { name: "Moodle" });
    expect(within(canvas).getByLabelText("JSON URL")).toHaveValue("https://qb.example/lti/canvas.json");
    expect(within(canvas).getByLabelText("Target Link URI")).toHaveValue(TOOL.launch_url);
    expect(within(moodle).getByLabelText("Tool URL")).toHaveValue(TOOL.launch_url);
    expect(within(moodle).getByLabelText("Public keyset")).toHaveValue(TOOL.jwks_url);
    expect(within(moodle).getByLabelText("Redirection URI(s)")).toHaveValue(TOOL.redirect_uris.join("\n"));
    expect(within(canvas).getByRole("heading", { level: 3, name: "Canvas" })).toBeInTheDocument();

    const form = screen.getByRole("region", { name: "2. Enter what the LMS gave you" });
    expect(within(form).getByLabelText("Client id")).toHaveValue("");
    // Step 1 comes first on the page, and no two elements share an id.
    expect(paste.compareDocumentPosition(form) & Node.DOCUMENT_POSITION_FOLLOWING).toBeTruthy();
    const ids = [...document.querySelectorAll("[id]")].map((element) => element.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(server.to("POST /api/lti/platforms")).toHaveLength(0);
    expect(server.to("GET /api/lti/tool")).toHaveLength(1);
  });

  it("registers a platform, showing field errors at their fields and a duplicate's conflict", async () => {
    const user = userEvent.setup();
    let posts = 0;
    const server = new FakeApi({
      "GET /api/lti/platforms": { body: empty },
      "GET /api/lti/tool": { body: NEW_TOOL },
      "POST /api/lti/platforms": () => {
        posts += 1;
        if (posts === 1) {
          return problem(422, "Validation Failed", "key_set_url: host is not allowed", { key_set_url: ["host is not allowed"] });
        }
        if (posts === 2) {
          return problem(409, "Conflict", "a platform with this issuer and client_id is already registered");
        }
        return { status: 201, body: PLATFORM };
      },
      [`GET /api/lti/platforms/${ID}`]: { body: PLATFORM },
    });
    renderApp("/lti-platforms");
    expect(await screen.findByText("No LMS platforms yet")).toBeInTheDocument();
    await user.click(screen.getByRole("link", { name: "New LMS platform" }));

    await paste(user, "Name", "Canvas (production)");
    await paste(user, "Issuer", PLATFORM.issuer);
    await paste(user, "Client id", PLATFORM.client_id);
    await user.type(screen.getByLabelText("Deployment id 1"), " 5:d3a2f0 ");
    await user.click(screen.getByRole("button", { name: "Add a deployment id" }));
    await user.type(screen.getByLabelText("Deployment id 2"), "unwanted");
    await user.click(screen.getByRole("button", { name: "Add a deployment id" }));
    await user.type(screen.getByLabelText("Deployment id 3"), "7:e9b1c4");
    await user.click(screen.getByRole("button", { name: "Remove deployment id 2" }));
    expect(screen.getByLabelText("Deployment id 2")).toHaveValue("7:e9b1c4");
    await paste(user, "Authentication request URL", PLATFORM.auth_login_url);
    await paste(user, "Access token URL", PLATFORM.auth_token_url);
    await paste(user, "Key set URL", "https://10.0.0.5/jwks");
    await user.click(screen.getByRole("button", { name: "Register platform" }));

    const keySet = screen.getByLabelText("Key set URL");
    expect(await screen.findByText("host is not allowed")).toBeInTheDocument();
    expect(keySet).toHaveAttribute("aria-invalid", "true");
    expect(keySet).toHaveAccessibleDescription(expect.stringContaining("host is not allowed"));
    expect(screen.getByLabelText("Issuer")).toHaveAttribute("aria-invalid", "false");
    expect(server.to("POST /api/lti/platforms")[0].body).toEqual({
      organization_id: OTHER_ORG.id,
      name: "Canvas (production)",
      issuer: PLATFORM.issuer,
      client_id: PLATFORM.client_id,
      deployment_ids: ["5:d3a2f0", "7:e9b1c4"],
      auth_login_url: PLATFORM.auth_login_url,
      auth_token_url: PLATFORM.auth_token_url,
      key_set_url: "https://10.0.0.5/jwks",
    });

    await user.clear(keySet);
    await paste(user, "Key set URL", PLATFORM.key_set_url);
    await user.click(screen.getByRole("button", { name: "Register platform" }));
    const conflict = await screen.findByRole("alert");
    expect(conflict).toHaveTextContent("Conflict");
    expect(conflict).toHaveTextContent("a platform with this issuer and client_id is already registered");
    expect(screen.getByLabelText("Key set URL")).toHaveAttribute("aria-invalid", "false");
    expect(screen.getByTestId("location")).toHaveTextContent("/lti-platforms/new");

    await paste(user, "Token audience (optional)", "https://riverside.instructure.com/login/oauth2/token");
    await user.click(screen.getByRole("button", { name: "Register platform" }));
    expect(await screen.findByRole("heading", { level: 1, name: "Canvas (production)" })).toBeInTheDocument();
    expect(screen.getByText("Platform registered. Paste these values into it.")).toBeInTheDocument();
    expect(screen.getByTestId("location")).toHaveTextContent(`/lti-platforms/${ID}`);
    expect(server.to("POST /api/lti/platforms")[2].body).toMatchObject({
      key_set_url: PLATFORM.key_set_url,
      auth_token_audience: "https://riverside.instructure.com/login/oauth2/token",
    });
  });

  it("shows what to paste into Canvas and Moodle, each value copyable", async () => {
    const user = userEvent.setup();
    new FakeApi({ [`GET /api/lti/platforms/${ID}`]: { body: PLATFORM } });
    renderApp(`/lti-platforms/${ID}`);
    const canvas = await screen.findByRole("region", { name: "Canvas" });
    const moodle = screen.getByRole("region", { name: "Moodle" });
    const lines = TOOL.redirect_uris.join("\n");
    const expected: [HTMLElement, string, string][] = [
      [canvas, "JSON URL", TOOL.canvas_config_url],
      [canvas, "Redirect URIs", lines],
      [canvas, "Target Link URI", TOOL.launch_url],
      [canvas, "OpenID Connect Initiation Url", TOOL.login_url],
      [canvas, "Public JWK URL", TOOL.jwks_url],
      [canvas, "Deep linking Target Link URI", TOOL.deep_linking_url],
      [moodle, "Tool URL", TOOL.launch_url],
      [moodle, "Public keyset", TOOL.jwks_url],
      [moodle, "Initiate login URL", TOOL.login_url],
      [moodle, "Redirection URI(s)", lines],
      [moodle, "Content Selection URL", TOOL.deep_linking_url],
    ];
    for (const [section, label, value] of expected) {
      const input = within(section).getByLabelText(label);
      expect(input, label).toHaveValue(value);
      expect(input, label).toHaveAttribute("readonly");
    }
    expect(within(canvas).getByText("Enter URL")).toBeInTheDocument();

    await user.click(within(moodle).getByRole("button", { name: "Copy Redirection URI(s)" }));
    expect(await navigator.clipboard.readText()).toBe(lines);
    await user.click(within(canvas).getByRole("button", { name: "Copy JSON URL" }));
    expect(await navigator.clipboard.readText()).toBe(TOOL.canvas_config_url);
    expect(within(canvas).getByText("Copied to the clipboard.")).toBeInTheDocument();
  });

  it("edits a platform's settings", async () => {
    const user = userEvent.setup();
    const server = new FakeApi({
      [`GET /api/lti/platforms/${ID}`]: { body: PLATFORM },
      [`PUT /api/lti/platforms/${ID}`]: (call) => ({ body: { ...PLATFORM, ...(call.body as object) } }),
    });
    renderApp(`/lti-platforms/${ID}`);
    const form = await screen.findByRole("region", { name: "What the platform gave" });
    expect(within(form).getByLabelText("Deployment id 2")).toHaveValue("7:e9b1c4");
    await user.click(within(form).getByRole("button", { name: "Remove deployment id 1" }));
    await user.clear(within(form).getByLabelText("Name"));
    await user.type(within(form).getByLabelText("Name"), "Canvas");
    await user.click(within(form).getByRole("button", { name: "Save changes" }));
    expect(await screen.findByText("Platform saved.")).toBeInTheDocument();
    const { id: _id, organization_id: _org, created_at: _at, tool: _tool, ...fields } = PLATFORM;
    expect(server.to(`PUT /api/lti/platforms/${ID}`)[0].body).toEqual({
      ...fields,
      name: "Canvas",
      deployment_ids: ["7:e9b1c4"],
      auth_token_audience: null,
    });
  });

  it("keeps a token audience when saving, and clears it once emptied", async () => {
    const user = userEvent.setup();
    const audience = "https://riverside.instructure.com/login/oauth2/token";
    const withAudience = { ...PLATFORM, auth_token_audience: audience };
    const server = new FakeApi({
      [`GET /api/lti/platforms/${ID}`]: { body: withAudience },
      [`PUT /api/lti/platforms/${ID}`]: (call) => ({ body: { ...withAudience, ...(call.body as object) } }),
    });
    renderApp(`/lti-platforms/${ID}`);
    const form = await screen.findByRole("region", { name: "What the platform gave" });
    expect(within(form).getByLabelText("Token audience (optional)")).toHaveValue(audience);
    await user.click(within(form).getByRole("button", { name: "Save changes" }));
    expect(await screen.findByText("Platform saved.")).toBeInTheDocument();
    const { id: _id, organization_id: _org, created_at: _at, tool: _tool, ...fields } = withAudience;
    expect(server.to(`PUT /api/lti/platforms/${ID}`)[0].body).toEqual(fields);

    const again = await screen.findByRole("region", { name: "What the platform gave" });
    await user.clear(within(again).getByLabelText("Token audience (optional)"));
    await user.type(within(again).getByLabelText("Token audience (optional)"), "   ");
    await user.click(within(again).getByRole("button", { name: "Save changes" }));
    await vi.waitFor(() => expect(server.to(`PUT /api/lti/platforms/${ID}`)).toHaveLength(2));
    expect(server.to(`PUT /api/lti/platforms/${ID}`)[1].body).toEqual({ ...fields, auth_token_audience: null });
  });

  it("deletes a platform only once confirmed", async () => {
    const user = userEvent.setup();
    const server = new FakeApi({
      [`GET /api/lti/platforms/${ID}`]: { body: PLATFORM },
      [`DELETE /api/lti/platforms/${ID}`]: { status: 204 },
      "GET /api/lti/platforms": { body: empty },
    });
    renderApp(`/lti-platforms/${ID}`);
    await user.click(await screen.findByRole("button", { name: "Delete platform…" }));
    const dialog = screen.getByRole("dialog", { name: "Delete this LMS platform?" });
    expect(dialog).toHaveTextContent("Canvas (production)");
    await user.click(within(dialog).getByRole("button", { name: "Cancel" }));
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
    expect(server.to(`DELETE /api/lti/platforms/${ID}`)).toHaveLength(0);

    await user.click(screen.getByRole("button", { name: "Delete platform…" }));
    await user.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Delete" }));
    expect(await screen.findByRole("heading", { level: 1, name: "LMS platforms" })).toBeInTheDocument();
    expect(server.to(`DELETE /api/lti/platforms/${ID}`)).toHaveLength(1);
  });
});
