// /members: the organization's people, and for its admins the invitations they sent.
import { useState } from "react";
import { useNavigate } from "react-router-dom";
import { leaveOrganization, membersPath, removeMember, sendPasswordReset, type Member } from "../../api/members";
import { useAuth, useOrganization } from "../../auth";
import { ConfirmDialog } from "../../components/Dialog";
import { Breakable, Time } from "../../components/display";
import { Notice, PageTitle } from "../../components/feedback";
import { PagedTable, RowActions, Table } from "../../components/Table";
import { useAction, usePagedList } from "../../hooks";
import { InvitationsSection } from "./Invitations";
import { InviteForm } from "./InviteForm";

type MemberAction = { kind: "remove" | "reset"; member: Member } | { kind: "leave" };

/** /members: who belongs to the organization, and for its admins the invitations they sent. */
export function MembersPage() {
  const organization = useOrganization();
  const { me, refresh } = useAuth();
  const navigate = useNavigate();
  const isAdmin = organization.role === "admin";
  const members = usePagedList<Member>(membersPath(organization.id), undefined);
  const [inviting, setInviting] = useState(false);
  const [invitationsSent, setInvitationsSent] = useState(0);
  const [notice, setNotice] = useState<string>();
  const [confirm, setConfirm] = useState<MemberAction>();

  const act = useAction(async (action: MemberAction) => {
    if (action.kind === "leave") return leaveOrganization(organization.id);
    if (action.kind === "remove") return removeMember(organization.id, action.member.user_id);
    return sendPasswordReset(organization.id, action.member.user_id);
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
        <PagedTable what="Members" list={members}>
          <Table testId="members-table" columns={["Email", "Name", "Role", "Joined", isAdmin && "Actions"]}>
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
                  <RowActions show={!self}>
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
                  </RowActions>
                )}
              </tr>
            );
          })}
          </Table>
        </PagedTable>
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
          action={act}
          onCancel={() => setConfirm(undefined)}
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
