// The form an admin invites someone with, by email and role.
import { useState, type FormEvent } from "react";
import { inviteMember, ROLES, type Invitation } from "../../api/members";
import { ErrorBanner } from "../../components/feedback";
import { Field } from "../../components/forms";
import { useAction } from "../../hooks";

export function InviteForm({
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
  const invite = useAction(() => inviteMember(organizationId, email.trim(), role));

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
