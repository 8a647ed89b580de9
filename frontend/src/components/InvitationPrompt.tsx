import { answerInvitation, type Inviter, type PendingInvitation } from "../api/invitations";
import { useAuth } from "../auth";
import { useAction } from "../hooks";
import { Time } from "./display";
import { ErrorBanner } from "./feedback";

export function inviterName(inviter: Inviter | null): string {
  return inviter ? inviter.display_name || inviter.email : "An admin";
}

/** The invitations waiting for the signed-in user, with accept and decline (GET /api/auth/me lists them). */
export function InvitationPrompt() {
  const { me, refresh, selectOrganization } = useAuth();
  const answer = useAction(async (invitation: PendingInvitation, action: "accept" | "decline") => {
    await answerInvitation(invitation.id, action);
    return action;
  });
  const invitations = me?.invitations ?? [];
  if (!invitations.length) return null;

  async function respond(invitation: PendingInvitation, action: "accept" | "decline") {
    if ((await answer.run(invitation, action)) === undefined) return;
    if (action === "accept") selectOrganization(invitation.organization.id);
    await refresh();
  }

  return (
    <section className="panel invitation-prompt" aria-labelledby="invitations-heading">
      <h2 id="invitations-heading">{invitations.length === 1 ? "An invitation" : "Invitations"} for you</h2>
      <ErrorBanner error={answer.error} />
      <ul className="stack">
        {invitations.map((invitation) => (
          <li key={invitation.id} className="invitation">
            <p>
              {inviterName(invitation.invited_by)} invited you to join <strong>{invitation.organization.name}</strong> as{" "}
              {invitation.role}. It expires <Time value={invitation.expires_at} />.
            </p>
            <div className="button-row">
              <button
                type="button"
                className="button button-primary button-small"
                aria-label={`Accept the invitation to ${invitation.organization.name}`}
                disabled={answer.busy}
                onClick={() => void respond(invitation, "accept")}
              >
                Accept
              </button>
              <button
                type="button"
                className="button button-small"
                aria-label={`Decline the invitation to ${invitation.organization.name}`}
                disabled={answer.busy}
                onClick={() => void respond(invitation, "decline")}
              >
                Decline
              </button>
            </div>
          </li>
        ))}
      </ul>
    </section>
  );
}
