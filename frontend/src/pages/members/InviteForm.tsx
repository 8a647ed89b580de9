// The form an admin invites someone with, by email and role.
import { useState, type FormEvent } from "react";
import { inviteMember, ROLES, type Invitation } from "../../api/members";
import { Field, FormActions, PanelForm } from "../../components/forms";
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
    <PanelForm headingId="invite-heading" title="Invite a member" onSubmit={submit} error={invite.error} fields={["email", "role"]}>
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
      <FormActions busy={invite.busy} busyLabel="Inviting…" submitLabel="Send invitation" onCancel={onCancel} />
    </PanelForm>
  );
}
