// The form that creates an API key, offering only the tiers the organization may issue.
import { useState, type FormEvent } from "react";
import { createKey, type ApiKey, type TierLimits } from "../../api/apiKeys";
import { Field, lines, FormActions, PanelForm } from "../../components/forms";
import { useAction } from "../../hooks";

/** "Starter (1,000 requests a day, 100 a minute)": the figures the server enforces, not a copy. */
export function tierLabel(tier: TierLimits): string {
  const name = tier.tier.charAt(0).toUpperCase() + tier.tier.slice(1);
  return `${name} (${tier.per_day.toLocaleString("en-US")} requests a day, ${tier.per_minute.toLocaleString("en-US")} a minute)`;
}

export function CreateKeyForm({
  organizationId,
  tiers,
  onCreated,
  onCancel,
}: {
  organizationId: string;
  /** The tiers this organization may issue. */
  tiers: TierLimits[];
  onCreated: (key: ApiKey) => void;
  onCancel: () => void;
}) {
  const [name, setName] = useState("");
  const [tier, setTier] = useState(tiers[0]?.tier ?? "starter");
  const [allowlist, setAllowlist] = useState("");
  const create = useAction(() => createKey(organizationId, { name: name.trim(), tier, ip_allowlist: lines(allowlist) }));

  async function submit(event: FormEvent) {
    event.preventDefault();
    const key = await create.run();
    if (key) onCreated(key);
  }

  return (
    <PanelForm
      headingId="new-key-heading"
      title="New API key"
      onSubmit={submit}
      error={create.error}
      fields={["name", "tier", "ip_allowlist"]}
    >
      <Field label="Name" name="name" error={create.error} hint="Who uses it, e.g. “Canvas production”.">
        {(props) => <input {...props} name="name" required maxLength={200} value={name} onChange={(e) => setName(e.target.value)} />}
      </Field>
      <Field label="Tier" name="tier" error={create.error}>
        {(props) => (
          <select {...props} name="tier" value={tier} onChange={(e) => setTier(e.target.value)}>
            {tiers.map((option) => (
              <option key={option.tier} value={option.tier}>
                {tierLabel(option)}
              </option>
            ))}
          </select>
        )}
      </Field>
      <Field
        label="IP allowlist (optional)"
        name="ip_allowlist"
        error={create.error}
        hint="One address or CIDR per line, e.g. 203.0.113.0/24. Empty allows any address."
      >
        {(props) => (
          <textarea {...props} name="ip_allowlist" rows={3} value={allowlist} onChange={(e) => setAllowlist(e.target.value)} />
        )}
      </Field>
      <FormActions busy={create.busy} busyLabel="Creating…" submitLabel="Create key" onCancel={onCancel} />
    </PanelForm>
  );
}
