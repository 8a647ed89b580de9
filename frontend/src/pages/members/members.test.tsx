import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { empty, renderApp, rowWith } from "../../test/app";
import { FakeApi, ME, ORG, OTHER_ORG, problem, type Call } from "../../test/server";

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
