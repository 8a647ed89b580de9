import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter, useLocation } from "react-router-dom";
import { afterEach, describe, expect, it } from "vitest";
import { AppRoutes } from "../App";
import { AuthProvider } from "../auth";
import { captureLinkToken, linkToken, resetLinkToken } from "../linkToken";
import { FakeApi, ME, ORG, OTHER_ORG, problem, type Call } from "../test/server";

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

/** As if the browser had opened an emailed link: main.tsx has taken its token. */
function openLink(page: "invitation" | "reset-password", token: string) {
  window.history.replaceState(null, "", `/admin/${page}#token=${token}`);
  captureLinkToken();
}

const TOKEN = "tok_0123456789abcdefghijklmnop";
const SIGNED_OUT = problem(401, "Unauthorized", "sign in first");
const NEW_ORG = { id: "33333333-3333-4333-8333-333333333333", name: "Mallory Labs", role: "member" };
const INVITER = { email: "mallory@labs.example", display_name: null };
const PREVIEW = {
  id: "44444444-4444-4444-8444-444444444444",
  email: "new.person@example.org",
  role: "member",
  organization: { id: NEW_ORG.id, name: NEW_ORG.name },
  invited_by: INVITER,
  expires_at: "2026-12-14T10:00:00Z",
  account_exists: false,
};
const empty = { data: [], next_cursor: null };

/** The row of a table that mentions `text` (emails break across <wbr>, so not by accessible name). */
function rowWith(table: HTMLElement, text: string): HTMLElement {
  const row = within(table)
    .getAllByRole("row")
    .find((candidate) => candidate.textContent?.includes(text));
  if (!row) throw new Error(`no row mentions ${text}`);
  return row;
}

afterEach(() => {
  resetLinkToken();
  window.history.replaceState(null, "", "/");
});

describe("the invitation link", () => {
  it("lets a new email choose a password, accept, and land signed in on the dashboard with the organization", async () => {
    const user = userEvent.setup();
    openLink("invitation", TOKEN);
    let signedIn = false;
    const server = new FakeApi({
      "GET /api/auth/me": () =>
        signedIn ? { body: { id: "u9", email: PREVIEW.email, organizations: [NEW_ORG], invitations: [] } } : SIGNED_OUT,
      "POST /api/invitations/lookup": { body: PREVIEW },
      "POST /api/invitations/accept": (call) => {
        const body = call.body as { password?: string };
        if (!body.password || body.password.length < 10) {
          return problem(422, "Validation Failed", "password: must be at least 10 characters", {
            password: ["must be at least 10 characters"],
          });
        }
        signedIn = true;
        return { body: { access_token: "x", user: { id: "u9", email: PREVIEW.email }, organization: NEW_ORG } };
      },
    });
    renderApp("/invitation");

    expect(await screen.findByRole("heading", { name: "Join Mallory Labs" })).toBeInTheDocument();
    expect(screen.getByText(/mallory@labs\.example invited/)).toHaveTextContent("new.person@example.org");
    expect(server.to("POST /api/invitations/lookup")[0].body).toEqual({ token: TOKEN });
    await user.type(screen.getByLabelText("Choose a password"), "short");
    await user.click(screen.getByRole("button", { name: "Accept and join" }));
    expect(await screen.findByText("must be at least 10 characters")).toBeInTheDocument();
    expect(screen.getByLabelText("Choose a password")).toHaveAttribute("aria-invalid", "true");

    await user.clear(screen.getByLabelText("Choose a password"));
    await user.type(screen.getByLabelText("Choose a password"), "a long enough passphrase");
    await user.click(screen.getByRole("button", { name: "Accept and join" }));

    expect(await screen.findByRole("heading", { level: 1, name: "Dashboard" })).toBeInTheDocument();
    expect(screen.getByTestId("location")).toHaveTextContent(/^\/$/);
    expect(screen.getByText("Mallory Labs")).toBeInTheDocument();
    expect(window.localStorage.getItem("questbridge.admin.organization")).toBe(NEW_ORG.id);
    expect(server.to("POST /api/invitations/accept").at(-1)!.body).toEqual({ token: TOKEN, password: "a long enough passphrase" });
    expect(linkToken("invitation")).toBeNull();
  });

  it("asks an existing account to sign in, then accepts without a password", async () => {
    const user = userEvent.setup();
    openLink("invitation", TOKEN);
    let signedIn = false;
    const invitee = { id: "u2", email: "Yara@riverside.example", organizations: [ORG], invitations: [] };
    const server = new FakeApi({
      "GET /api/auth/me": () => (signedIn ? { body: invitee } : SIGNED_OUT),
      "POST /api/invitations/lookup": { body: { ...PREVIEW, email: "yara@riverside.example", account_exists: true } },
      "POST /api/auth/login": () => {
        signedIn = true;
        return { body: { access_token: "x", user: { id: "u2", email: invitee.email } } };
      },
      "POST /api/invitations/accept": () => {
        invitee.organizations = [ORG, NEW_ORG];
        return { body: { organization: NEW_ORG } };
      },
    });
    renderApp("/invitation");

    expect(await screen.findByText(/already has a Questbridge account/)).toBeInTheDocument();
    expect(screen.getByLabelText("Email")).toHaveValue("yara@riverside.example");
    await user.type(screen.getByLabelText("Password"), "correct horse battery staple");
    await user.click(screen.getByRole("button", { name: "Sign in to accept" }));
    await user.click(await screen.findByRole("button", { name: "Accept and join Mallory Labs" }));

    expect(await screen.findByRole("heading", { level: 1, name: "Dashboard" })).toBeInTheDocument();
    expect(server.to("POST /api/auth/login")[0].body).toEqual({
      email: "yara@riverside.example",
      password: "correct horse battery staple",
    });
    expect(server.to("POST /api/invitations/accept")[0].body).toEqual({ token: TOKEN });
    expect(screen.getByLabelText("Organization")).toHaveValue(NEW_ORG.id);
  });

  it("tells someone signed in as another account to switch, and never accepts for them", async () => {
    openLink("invitation", TOKEN);
    const server = new FakeApi({
      "POST /api/invitations/lookup": { body: { ...PREVIEW, email: "someone.else@example.org", account_exists: true } },
    });
    renderApp("/invitation");

    expect(await screen.findByRole("note")).toHaveTextContent(
      `This invitation is for someone.else@example.org, but you are signed in as ${ME.email}.`,
    );
    expect(screen.getByRole("button", { name: "Log out" })).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /Accept/ })).not.toBeInTheDocument();
    expect(server.to("POST /api/invitations/accept")).toHaveLength(0);
  });

  it("declines", async () => {
    const user = userEvent.setup();
    openLink("invitation", TOKEN);
    const server = new FakeApi({
      "GET /api/auth/me": SIGNED_OUT,
      "POST /api/invitations/lookup": { body: PREVIEW },
      "POST /api/invitations/decline": { status: 204 },
    });
    renderApp("/invitation");

    await user.click(await screen.findByRole("button", { name: "Decline" }));

    expect(await screen.findByRole("heading", { name: "Invitation declined" })).toBeInTheDocument();
    expect(screen.getByText(/You declined to join Mallory Labs/)).toBeInTheDocument();
    expect(server.to("POST /api/invitations/decline")[0].body).toEqual({ token: TOKEN });
    expect(server.to("POST /api/invitations/accept")).toHaveLength(0);
    expect(linkToken("invitation")).toBeNull();
  });

  it("says plainly when the link no longer works", async () => {
    openLink("invitation", TOKEN);
    new FakeApi({
      "GET /api/auth/me": SIGNED_OUT,
      "POST /api/invitations/lookup": problem(400, "Bad Request", "token: is invalid, expired or already used", {
        token: ["is invalid, expired or already used"],
      }),
    });
    renderApp("/invitation");

    expect(await screen.findByRole("alert")).toHaveTextContent("This invitation link no longer works");
    expect(screen.getByRole("link", { name: "Sign in" })).toBeInTheDocument();
  });

  it("explains itself when opened without a link's token (a reload forgets it)", async () => {
    const server = new FakeApi({ "GET /api/auth/me": SIGNED_OUT });
    renderApp("/invitation");

    expect(await screen.findByText(/opens from the link in your invitation email/)).toBeInTheDocument();
    expect(server.to("POST /api/invitations/lookup")).toHaveLength(0);
  });
});

describe("the password reset link", () => {
  it("sets the new password and lands signed in on the dashboard", async () => {
    const user = userEvent.setup();
    openLink("reset-password", TOKEN);
    let signedIn = false;
    const server = new FakeApi({
      "GET /api/auth/me": () => (signedIn ? { body: ME } : SIGNED_OUT),
      "POST /api/auth/password-reset": (call) => {
        if ((call.body as { password: string }).password === ME.email) {
          return problem(422, "Validation Failed", "password: must not be your email address", {
            password: ["must not be your email address"],
          });
        }
        signedIn = true;
        return { body: { access_token: "x", user: { id: ME.id, email: ME.email } } };
      },
    });
    renderApp("/reset-password");

    await user.type(await screen.findByLabelText("New password"), ME.email);
    await user.click(screen.getByRole("button", { name: "Set password and sign in" }));
    expect(await screen.findByText("must not be your email address")).toBeInTheDocument();
    await user.clear(screen.getByLabelText("New password"));
    await user.type(screen.getByLabelText("New password"), "a brand new passphrase");
    await user.click(screen.getByRole("button", { name: "Set password and sign in" }));

    expect(await screen.findByRole("heading", { level: 1, name: "Dashboard" })).toBeInTheDocument();
    expect(server.to("POST /api/auth/password-reset").at(-1)!.body).toEqual({ token: TOKEN, password: "a brand new passphrase" });
    expect(linkToken("reset-password")).toBeNull();
  });

  it("says plainly when the link no longer works", async () => {
    const user = userEvent.setup();
    openLink("reset-password", TOKEN);
    new FakeApi({
      "GET /api/auth/me": SIGNED_OUT,
      "POST /api/auth/password-reset": problem(400, "Bad Request", "token: is invalid, expired or already used", {
        token: ["is invalid, expired or already used"],
      }),
    });
    renderApp("/reset-password");

    await user.type(await screen.findByLabelText("New password"), "a brand new passphrase");
    await user.click(screen.getByRole("button", { name: "Set password and sign in" }));

    expect(await screen.findByRole("alert")).toHaveTextContent("This reset link no longer works");
  });
});

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

describe("members", () => {
  const MEMBERS_PATH = `/api/organizations/${OTHER_ORG.id}/members`;
  const INVITATIONS_PATH = `/api/organizations/${OTHER_ORG.id}/invitations`;
  const SELF = { user_id: ME.id, email: ME.email, display_name: "Ada Admin", role: "admin", created_at: "2026-11-01T10:00:00Z" };
  const STUDENT = { user_id: "u5", email: "student@riverside.example", display_name: null, role: "member", created_at: "2026-11-02T10:00:00Z" };
  const PENDING = {
    id: "66666666-6666-4666-8666-666666666666",
    organization_id: OTHER_ORG.id,
    email: "new.teacher@example.org",
    role: "admin",
    status: "pending",
    invited_by: { email: ME.email, display_name: "Ada Admin" },
    created_at: "2026-12-07T10:00:00Z",
    sent_at: "2026-12-07T10:00:00Z",
    expires_at: "2026-12-14T10:00:00Z",
    responded_at: null,
  };

  it("lists members and invitations, invites by email and role, resends and revokes", async () => {
    const user = userEvent.setup();
    const invitations = [PENDING];
    const server = new FakeApi({
      [`GET ${MEMBERS_PATH}`]: { body: { data: [SELF, STUDENT], next_cursor: null } },
      [`GET ${INVITATIONS_PATH}`]: () => ({ body: { data: [...invitations], next_cursor: null } }),
      [`POST ${MEMBERS_PATH}`]: (call: Call) => {
        const body = call.body as { email: string; role: string };
        if (!body.email.includes("@")) {
          return problem(422, "Validation Failed", "email: Not a valid email address.", { email: ["Not a valid email address."] });
        }
        const created = { ...PENDING, id: "77777777-7777-4777-8777-777777777777", ...body, invitation_sent: true };
        invitations.unshift(created);
        return { status: 201, body: created };
      },
      [`POST ${INVITATIONS_PATH}/${PENDING.id}/resend`]: { body: { ...PENDING, invitation_sent: true } },
      [`DELETE ${INVITATIONS_PATH}/${PENDING.id}`]: () => {
        invitations.splice(invitations.findIndex((i) => i.id === PENDING.id), 1, { ...PENDING, status: "revoked" });
        return { status: 204 };
      },
    });
    renderApp("/members");

    const people = await screen.findByTestId("members-table");
    expect(rowWith(people, "student@riverside.example")).toHaveTextContent("member");
    expect(rowWith(people, "(you)")).toHaveTextContent(ME.email);
    const table = await screen.findByTestId("invitations-table");
    expect(rowWith(table, "new.teacher@example.org")).toHaveTextContent("pending");

    await user.click(screen.getByRole("button", { name: "Invite member" }));
    await user.type(screen.getByLabelText("Email"), "not-an-email");
    await user.click(screen.getByRole("button", { name: "Send invitation" }));
    expect(await screen.findByText("Not a valid email address.")).toBeInTheDocument();
    await user.clear(screen.getByLabelText("Email"));
    await user.type(screen.getByLabelText("Email"), "helper@example.org");
    await user.selectOptions(screen.getByLabelText("Role"), "admin");
    await user.click(screen.getByRole("button", { name: "Send invitation" }));
    expect(await screen.findByText("Invitation sent to helper@example.org.")).toBeInTheDocument();
    expect(server.to(`POST ${MEMBERS_PATH}`).at(-1)!.body).toEqual({ email: "helper@example.org", role: "admin" });
    await waitFor(() => expect(rowWith(screen.getByTestId("invitations-table"), "helper@example.org")).toHaveTextContent("admin"));

    await user.click(screen.getByRole("button", { name: "Resend the invitation to new.teacher@example.org" }));
    expect(await screen.findByText(/A new link was emailed to new\.teacher@example\.org/)).toBeInTheDocument();

    await user.click(screen.getByRole("button", { name: "Revoke the invitation to new.teacher@example.org" }));
    await user.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Revoke" }));
    expect(await screen.findByText(/The invitation to new\.teacher@example\.org was revoked/)).toBeInTheDocument();
    expect(server.to(`DELETE ${INVITATIONS_PATH}/${PENDING.id}`)).toHaveLength(1);
    await waitFor(() => expect(rowWith(screen.getByTestId("invitations-table"), "new.teacher")).toHaveTextContent("revoked"));
  });

  it("removes a member and sends a password reset, after confirmation", async () => {
    const user = userEvent.setup();
    const server = new FakeApi({
      [`GET ${MEMBERS_PATH}`]: { body: { data: [SELF, STUDENT], next_cursor: null } },
      [`GET ${INVITATIONS_PATH}`]: { body: empty },
      [`POST ${MEMBERS_PATH}/${STUDENT.user_id}/password-reset`]: { status: 202, body: { status: "sent" } },
      [`DELETE ${MEMBERS_PATH}/${STUDENT.user_id}`]: { status: 204 },
    });
    renderApp("/members");

    await user.click(await screen.findByRole("button", { name: `Send ${STUDENT.email} a password reset` }));
    await user.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Send reset link" }));
    expect(await screen.findByText(`A password reset link was emailed to ${STUDENT.email}.`)).toBeInTheDocument();

    await user.click(screen.getByRole("button", { name: `Remove ${STUDENT.email}` }));
    await user.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Remove" }));
    expect(await screen.findByText(`${STUDENT.email} was removed from ${OTHER_ORG.name}.`)).toBeInTheDocument();
    expect(server.to(`DELETE ${MEMBERS_PATH}/${STUDENT.user_id}`)).toHaveLength(1);
    // One's own row offers neither: leaving is its own action.
    expect(screen.queryByRole("button", { name: `Remove ${ME.email}` })).not.toBeInTheDocument();
  });

  it("shows why the last admin cannot leave, and lets a member leave", async () => {
    const user = userEvent.setup();
    new FakeApi({
      [`GET ${MEMBERS_PATH}`]: { body: { data: [SELF], next_cursor: null } },
      [`GET ${INVITATIONS_PATH}`]: { body: empty },
      [`DELETE ${MEMBERS_PATH}/me`]: problem(
        409,
        "Conflict",
        "user_id: is the organization's last admin: an organization keeps at least one admin, so invite another first",
        { user_id: ["is the organization's last admin: an organization keeps at least one admin, so invite another first"] },
      ),
    });
    renderApp("/members");

    await user.click(await screen.findByRole("button", { name: "Leave organization…" }));
    const dialog = screen.getByRole("dialog", { name: `Leave ${OTHER_ORG.name}?` });
    await user.click(within(dialog).getByRole("button", { name: "Leave" }));
    expect(await within(dialog).findByRole("alert")).toHaveTextContent("last admin");
  });

  it("lets a member leave and returns to the organizations still theirs", async () => {
    const user = userEvent.setup();
    const me = { ...ME, organizations: [{ ...OTHER_ORG, role: "member" }, ORG] };
    window.localStorage.setItem("questbridge.admin.organization", OTHER_ORG.id);
    const server = new FakeApi({
      "GET /api/auth/me": () => ({ body: me }),
      [`GET ${MEMBERS_PATH}`]: { body: { data: [{ ...SELF, role: "member" }], next_cursor: null } },
      [`DELETE ${MEMBERS_PATH}/me`]: () => {
        me.organizations = [ORG];
        return { status: 204 };
      },
    });
    renderApp("/members");

    expect(await screen.findByTestId("members-table")).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Invite member" })).not.toBeInTheDocument();
    expect(screen.queryByTestId("invitations-table")).not.toBeInTheDocument();
    expect(server.to(`GET ${INVITATIONS_PATH}`)).toHaveLength(0); // members do not ask for what admins see
    await user.click(screen.getByRole("button", { name: "Leave organization…" }));
    await user.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Leave" }));

    expect(await screen.findByRole("heading", { level: 1, name: "Dashboard" })).toBeInTheDocument();
    expect(screen.getByText(ORG.name)).toBeInTheDocument();
    expect(server.to(`DELETE ${MEMBERS_PATH}/me`)).toHaveLength(1);
  });
});
