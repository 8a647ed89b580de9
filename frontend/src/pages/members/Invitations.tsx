// The invitations an organization's admins sent: resend a link, or revoke one.
import { useState } from "react";
import { invitationsPath, resendInvitation, revokeInvitation, type Invitation } from "../../api/members";
import { ConfirmDialog } from "../../components/Dialog";
import { Breakable, StatusBadge, Time } from "../../components/display";
import { Empty, ErrorBanner, Notice } from "../../components/feedback";
import { PagedTable, RowActions, Table } from "../../components/Table";
import { useAction, usePagedList } from "../../hooks";

export function InvitationsSection({ organizationId }: { organizationId: string }) {
  const list = usePagedList<Invitation>(invitationsPath(organizationId), undefined);
  const [notice, setNotice] = useState<string>();
  const [revoking, setRevoking] = useState<Invitation>();
  const resend = useAction((invitation: Invitation) => resendInvitation(organizationId, invitation.id));
  const revoke = useAction((invitation: Invitation) => revokeInvitation(organizationId, invitation.id));

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
      <PagedTable
        what="Invitations"
        list={list}
        empty={
          <Empty title="No invitations yet">Invite people by email; they join when they accept.</Empty>
        }
      >
        <Table testId="invitations-table" columns={["Email", "Role", "Status", "Sent", "Expires", "Actions"]}>
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
                <RowActions show={open}>
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
                </RowActions>
              </tr>
            );
          })}
        </Table>
      </PagedTable>

      {revoking && (
        <ConfirmDialog
          title={`Revoke the invitation to ${revoking.email}?`}
          confirmLabel="Revoke"
          danger
          action={revoke}
          onCancel={() => setRevoking(undefined)}
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
