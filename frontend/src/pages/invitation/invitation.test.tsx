import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";
import { captureLinkToken, linkToken, resetLinkToken } from "../../linkToken";
import { INVITER, NEW_ORG, renderApp } from "../../test/app";
import { FakeApi, ME, ORG, problem } from "../../test/server";

/** As if the browser had opened an emailed link: main.tsx has taken its token. */
function openLink(page: "invitation" | "reset-password", token: string) {
  window.history.replaceState(null, "", `/admin/${page}#token=${token}`);
  captureLinkToken();
}

const TOKEN = "tok_0123456789abcdefghijklmnop";
const SIGNED_OUT = problem(401, "Unauthorized", "sign in first");
const PREVIEW = {
  id: "44444444-4444-4444-8444-444444444444",
  email: "new.person@example.org",
  role: "member",
  organization: { id: NEW_ORG.id, name: NEW_ORG.name },
  invited_by: INVITER,
  expires_at: "2026-12-14T10:00:00Z",
  account_exists: false,
};

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
