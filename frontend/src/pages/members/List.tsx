import { useState, type FormEvent } from "react";
import { useNavigate } from "react-router-dom";
import { api, type Invitation, type Member } from "../../api";
import { useAuth, useOrganization } from "../../auth";
import { ConfirmDialog } from "../../components/Dialog";
import { Breakable, StatusBadge, Time } from "../../components/display";
import { Empty, ErrorBanner, LoadMore, LoadState, Notice, PageTitle } from "../../components/feedback";
import { Field } from "../../components/forms";
import { useAction, usePagedList } from "../../hooks";

const ROLES = [
  { value: "member", label: "Member" },
  { value: "admin", label: "Admin (manages the organization)" },
];

type MemberAction = { kind: "remove" | "reset"; member: Member } | { kind: "leave" };

function orgPath(organizationId: string, rest: string): string {
  return `/api/organizations/${encodeURIComponent(organizationId)}/${rest}`;
}

/** /members: who belongs to the organization, and for its admins the invitations they sent. */
export function MembersPage() {
  const organization = useOrganization();
  const { me, refresh } = useAuth();
  const navigate = useNavigate();
  const isAdmin = organization.role === "admin";
  const members = usePagedList<Member>(orgPath(organization.id, "members"), undefined);
  const [inviting, setInviting] = useState(false);
  const [invitationsSent, setInvitationsSent] = useState(0);
  const [notice, setNotice] = useState<string>();
  const [confirm, setConfirm] = useState<MemberAction>();

  const act = useAction(async (action: MemberAction) => {
    if (action.kind === "leave") return api(orgPath(organization.id, "members/me"), { method: "DELETE" });
    const member = encodeURIComponent(action.member.user_id);
    if (action.kind === "remove") return api(orgPath(organization.id, `members/${member}`), { method: "DELETE" });
    return api(orgPath(organization.id, `members/${member}/password-reset`), { method: "POST" });
  });

  async function onConfirm() {
    if (!confirm) return;
    if ((await act.run(confirm)) === undefined) return;
    setConfirm(undefined);
    if (confirm.kind === "leave") {
      await refresh();
      navigate("/", { replace: true });
      return;
    }
    setNotice(
      confirm.kind === "remove"
        ? `${confirm.member.email} was removed from ${organization.name}.`
        : `A password reset link was emailed to ${confirm.member.email}.`,
    );
    if (confirm.kind === "remove") void members.reload();
  }

  return (
    <>
      <PageTitle
        actions={
          <>
            {isAdmin && !inviting && (
              <button type="button" className="button button-primary" onClick={() => setInviting(true)}>
                Invite member
              </button>
            )}
            <button type="button" className="button button-danger" onClick={() => setConfirm({ kind: "leave" })}>
              Leave organization…
            </button>
          </>
        }
      >
        Members
      </PageTitle>
      <p className="muted">
        People join {organization.name} only by accepting an invitation; until then you see the invitation, not them.
      </p>
      <Notice>{notice}</Notice>

      {inviting && (
        <InviteForm
          organizationId={organization.id}
          onCancel={() => setInviting(false)}
          onInvited={(invitation) => {
            setInviting(false);
            setInvitationsSent((count) => count + 1);
            setNotice(
              invitation.invitation_sent === false
                ? `The invitation to ${invitation.email} is saved, but its email could not be sent: resend it below.`
                : `Invitation sent to ${invitation.email}.`,
            );
          }}
        />
      )}

      <section className="panel" aria-labelledby="members-heading">
        <h2 id="members-heading">People</h2>
        <LoadState what="Members" loading={members.loading} error={members.error} hasData={Boolean(members.items)} onRetry={members.reload}>
          <div className="table-wrap">
            <table className="table table-stack" data-testid="members-table">
              <thead>
                <tr>
                  <th scope="col">Email</th>
                  <th scope="col">Name</th>
                  <th scope="col">Role</th>
                  <th scope="col">Joined</th>
                  {isAdmin && <th scope="col">Actions</th>}
                </tr>
              </thead>
              <tbody>
                {members.items?.map((member) => {
                  const self = member.user_id === me?.id;
                  return (
                    <tr key={member.user_id}>
                      <th scope="row" data-label="Email">
                        <Breakable text={member.email} />
                        {self && <span className="muted small"> (you)</span>}
                      </th>
                      <td data-label="Name">{member.display_name || <span className="muted">—</span>}</td>
                      <td data-label="Role">{member.role}</td>
                      <td data-label="Joined">
                        <Time value={member.created_at} />
                      </td>
                      {isAdmin && (
                        <td data-label="Actions">
                          {!self && (
                            <div className="button-row">
                              <button
                                type="button"
                                className="button button-small"
                                aria-label={`Send ${member.email} a password reset`}
                                onClick={() => setConfirm({ kind: "reset", member })}
                              >
                                Send password reset…
                              </button>
                              <button
                                type="button"
                                className="button button-small button-danger"
                                aria-label={`Remove ${member.email}`}
                                onClick={() => setConfirm({ kind: "remove", member })}
                              >
                                Remove…
                              </button>
                            </div>
                          )}
                        </td>
                      )}
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
          <LoadMore list={members} />
        </LoadState>
      </section>

      {/* Keyed by the invitations sent from here, so a new one is listed at once. */}
      {isAdmin && <InvitationsSection organizationId={organization.id} key={invitationsSent} />}

      {confirm && (
        <ConfirmDialog
          title={
            confirm.kind === "leave"
              ? `Leave ${organization.name}?`
              : confirm.kind === "remove"
                ? `Remove ${confirm.member.email}?`
                : `Send ${confirm.member.email} a password reset?`
          }
          confirmLabel={confirm.kind === "leave" ? "Leave" : confirm.kind === "remove" ? "Remove" : "Send reset link"}
          danger={confirm.kind !== "reset"}
          busy={act.busy}
          error={act.error}
          onCancel={() => {
            act.clearError();
            setConfirm(undefined);
          }}
          onConfirm={() => void onConfirm()}
        >
          {confirm.kind === "leave" ? (
            <p>You lose access to {organization.name} at once. To come back, an admin must invite you again.</p>
          ) : confirm.kind === "remove" ? (
            <p>
              {confirm.member.email} loses access to {organization.name} at once. Their account and their other
              organizations stay as they are.
            </p>
          ) : (
            <p>
              {confirm.member.email} gets an email with a single-use link to choose a new password. Their password stays
              as it is until they use it.
            </p>
          )}
        </ConfirmDialog>
      )}
    </>
  );
}

function InviteForm({
  organizationId,
  onInvited,
  onCancel,
}: {
  organizationId: string;
  onInvited: (invitation: Invitation) => void;
  onCancel: () => void;
}) {
  const [email, setEmail] = useState("");
  const [role, setRole] = useState("member");
  const invite = useAction(() =>
    api<Invitation>(orgPath(organizationId, "members"), { method: "POST", body: { email: email.trim(), role } }),
  );

  async function submit(event: FormEvent) {
    event.preventDefault();
    const invitation = await invite.run();
    if (invitation) onInvited(invitation);
  }

  return (
    <section className="panel" aria-labelledby="invite-heading">
      <h2 id="invite-heading">Invite a member</h2>
      <form className="form" onSubmit={submit} noValidate>
        <ErrorBanner error={invite.error} fields={["email", "role"]} />
        <Field label="Email" name="email" error={invite.error} hint="They get an email with a link to accept or decline.">
          {(props) => (
            <input
              {...props}
              type="email"
              name="email"
              autoComplete="off"
              required
              maxLength={254}
              value={email}
              onChange={(event) => setEmail(event.target.value)}
            />
          )}
        </Field>
        <Field label="Role" name="role" error={invite.error}>
          {(props) => (
            <select {...props} name="role" value={role} onChange={(event) => setRole(event.target.value)}>
              {ROLES.map((option) => (
                <option key={option.value} value={option.value}>
                  {option.label}
                </option>
              ))}
            </select>
          )}
        </Field>
        <div className="form-actions">
          <button type="submit" className="button button-primary" disabled={invite.busy}>
            {invite.busy ? "Inviting…" : "Send invitation"}
          </button>
          <button type="button" className="button" onClick={onCancel}>
            Cancel
          </button>
        </div>
      </form>
    </section>
  );
}

function InvitationsSection({ organizationId }: { organizationId: string }) {
  const list = usePagedList<Invitation>(orgPath(organizationId, "invitations"), undefined);
  const [notice, setNotice] = useState<string>();
  const [revoking, setRevoking] = useState<Invitation>();
  const resend = useAction((invitation: Invitation) =>
    api<Invitation>(orgPath(organizationId, `invitations/${encodeURIComponent(invitation.id)}/resend`), { method: "POST" }),
  );
  const revoke = useAction((invitation: Invitation) =>
    api(orgPath(organizationId, `invitations/${encodeURIComponent(invitation.id)}`), { method: "DELETE" }),
  );

  async function onResend(invitation: Invitation) {
    const result = await resend.run(invitation);
    if (!result) return;
    setNotice(
      result.invitation_sent === false
        ? `The email to ${invitation.email} could not be sent; try again later.`
        : `A new link was emailed to ${invitation.email}; the previous one no longer works.`,
    );
    void list.reload();
  }

  return (
    <section className="panel" aria-labelledby="invitations-list-heading">
      <h2 id="invitations-list-heading">Invitations</h2>
      <Notice>{notice}</Notice>
      <ErrorBanner error={resend.error} />
      <LoadState what="Invitations" loading={list.loading} error={list.error} hasData={Boolean(list.items)} onRetry={list.reload}>
        {list.items && list.items.length === 0 ? (
          <Empty title="No invitations yet">Invite people by email; they join when they accept.</Empty>
        ) : (
          <div className="table-wrap">
            <table className="table table-stack" data-testid="invitations-table">
              <thead>
                <tr>
                  <th scope="col">Email</th>
                  <th scope="col">Role</th>
                  <th scope="col">Status</th>
                  <th scope="col">Sent</th>
                  <th scope="col">Expires</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {list.items?.map((invitation) => {
                  const open = invitation.status === "pending" || invitation.status === "expired";
                  return (
                    <tr key={invitation.id}>
                      <th scope="row" data-label="Email">
                        <Breakable text={invitation.email} />
                      </th>
                      <td data-label="Role">{invitation.role}</td>
                      <td data-label="Status">
                        <StatusBadge status={invitation.status} />
                      </td>
                      <td data-label="Sent">
                        <Time value={invitation.sent_at} />
                      </td>
                      <td data-label="Expires">{open ? <Time value={invitation.expires_at} /> : <span className="muted">—</span>}</td>
                      <td data-label="Actions">
                        {open && (
                          <div className="button-row">
                            <button
                              type="button"
                              className="button button-small"
                              aria-label={`Resend the invitation to ${invitation.email}`}
                              disabled={resend.busy}
                              onClick={() => void onResend(invitation)}
                            >
                              Resend
                            </button>
                            <button
                              type="button"
                              className="button button-small button-danger"
                              aria-label={`Revoke the invitation to ${invitation.email}`}
                              onClick={() => setRevoking(invitation)}
                            >
                              Revoke…
                            </button>
                          </div>
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
        <LoadMore list={list} />
      </LoadState>

      {revoking && (
        <ConfirmDialog
          title={`Revoke the invitation to ${revoking.email}?`}
          confirmLabel="Revoke"
          danger
          busy={revoke.busy}
          error={revoke.error}
          onCancel={() => {
            revoke.clearError();
            setRevoking(undefined);
          }}
          onConfirm={async () => {
            if ((await revoke.run(revoking)) === undefined) return;
            setNotice(`The invitation to ${revoking.email} was revoked; its link no longer works.`);
            setRevoking(undefined);
            void list.reload();
          }}
        >
          <p>Its link stops working and {revoking.email} is no longer offered it. You can invite them again later.</p>
        </ConfirmDialog>
      )}
    </section>
  );
}
