import { useState, type FormEvent } from "react";
import { api, type ApiKey, type OrganizationLimits, type TierLimits } from "../../api";
import { useOrganization } from "../../auth";
import { ConfirmDialog, Dialog } from "../../components/Dialog";
import { StatusBadge, Time } from "../../components/display";
import { Empty, ErrorBanner, LoadMore, LoadState, Notice, PageTitle } from "../../components/feedback";
import { Field, lines } from "../../components/forms";
import { SecretReveal } from "../../components/SecretReveal";
import { useAction, useApi, usePagedList } from "../../hooks";

const KEYS_PATH = "/v1/admin/external/keys";

/** "Starter (1,000 requests a day, 100 a minute)": the figures the server enforces, not a copy. */
export function tierLabel(tier: TierLimits): string {
  const name = tier.tier.charAt(0).toUpperCase() + tier.tier.slice(1);
  return `${name} (${tier.per_day.toLocaleString("en-US")} requests a day, ${tier.per_minute.toLocaleString("en-US")} a minute)`;
}

function keyId(key: ApiKey): string {
  return key.key_id ?? key.id ?? "";
}

function keyStatus(key: ApiKey): string {
  return key.status ?? (key.revoked_at ? "revoked" : "active");
}

/** Revoked and expired keys can no longer be rotated or revoked. */
function isUsable(key: ApiKey): boolean {
  return keyStatus(key) === "active" || keyStatus(key) === "replaced";
}

export function ApiKeysPage() {
  const organization = useOrganization();
  const list = usePagedList<ApiKey>(KEYS_PATH, { organization_id: organization.id });
  const limits = useApi<OrganizationLimits>(`/api/organizations/${encodeURIComponent(organization.id)}/limits`);
  const full = limits.data !== undefined && limits.data.api_keys >= limits.data.max_api_keys;
  const [creating, setCreating] = useState(false);
  const [revealed, setRevealed] = useState<{ label: string; key: ApiKey }>();
  const [rotating, setRotating] = useState<ApiKey>();
  const [revoking, setRevoking] = useState<ApiKey>();
  const [notice, setNotice] = useState<string>();

  const revoke = useAction((key: ApiKey) => api(`${KEYS_PATH}/${encodeURIComponent(keyId(key))}`, { method: "DELETE" }));

  return (
    <>
      <PageTitle
        actions={
          !creating && (
            <button
              type="button"
              className="button button-primary"
              disabled={!limits.data || full}
              onClick={() => setCreating(true)}
            >
              New API key
            </button>
          )
        }
      >
        API keys
      </PageTitle>
      <p className="muted">
        Partners send events and read data with these keys (<code>X-API-Key</code> header on <code>/v1/external/*</code>).
      </p>
      {limits.data && (
        <p data-testid="key-limits">
          <strong>
            {limits.data.api_keys} of {limits.data.max_api_keys}
          </strong>{" "}
          keys in use; tiers: {limits.data.tiers.map((tier) => tier.tier).join(", ")}.{" "}
          {full ? (
            <span>This organization holds all the keys it may: revoke one, or ask a platform admin to raise the limit.</span>
          ) : (
            <span className="muted">A platform admin sets these limits.</span>
          )}
        </p>
      )}
      <ErrorBanner error={limits.error} onRetry={limits.reload} />
      <Notice>{notice}</Notice>

      {revealed?.key.api_key && (
        <div className="panel">
          <SecretReveal label={revealed.label} secret={revealed.key.api_key} onDone={() => setRevealed(undefined)}>
            <p>
              Key id <code>{keyId(revealed.key)}</code>
            </p>
          </SecretReveal>
        </div>
      )}

      {creating && limits.data && (
        <CreateKeyForm
          organizationId={organization.id}
          tiers={limits.data.tiers}
          onCancel={() => setCreating(false)}
          onCreated={(key) => {
            setCreating(false);
            setNotice(undefined);
            setRevealed({ label: "New API key", key });
            void list.reload();
            void limits.reload();
          }}
        />
      )}

      <LoadState what="API keys" loading={list.loading} error={list.error} hasData={Boolean(list.items)} onRetry={list.reload}>
        {list.items && list.items.length === 0 ? (
          <Empty title="No API keys yet">Create one for each partner system that calls the external API.</Empty>
        ) : (
          <div className="table-wrap">
            <table className="table table-stack" data-testid="keys-table">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Status</th>
                  <th scope="col">Key id</th>
                  <th scope="col">Tier</th>
                  <th scope="col">IP allowlist</th>
                  <th scope="col">Created</th>
                  <th scope="col">Last used</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {list.items?.map((key) => (
                  <tr key={keyId(key)} data-key-id={keyId(key)}>
                    <th scope="row" data-label="Name">
                      {key.name || <span className="muted">unnamed</span>}
                    </th>
                    <td data-label="Status">
                      <StatusBadge status={keyStatus(key)} />
                      {keyStatus(key) === "replaced" && key.expires_at && (
                        <div className="muted small">
                          until <Time value={key.expires_at} />
                        </div>
                      )}
                    </td>
                    <td data-label="Key id">
                      <code>{keyId(key)}</code>
                    </td>
                    <td data-label="Tier">{key.tier}</td>
                    <td data-label="IP allowlist">
                      {key.ip_allowlist?.length ? key.ip_allowlist.join(", ") : <span className="muted">any address</span>}
                    </td>
                    <td data-label="Created">
                      <Time value={key.created_at} />
                    </td>
                    <td data-label="Last used">
                      <Time value={key.last_used_at} />
                    </td>
                    <td data-label="Actions">
                      {isUsable(key) && (
                        <div className="button-row">
                          {keyStatus(key) === "active" && (
                            <button type="button" className="button button-small" onClick={() => setRotating(key)}>
                              Rotate…
                            </button>
                          )}
                          <button type="button" className="button button-small button-danger" onClick={() => setRevoking(key)}>
                            Revoke…
                          </button>
                        </div>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <LoadMore list={list} />
      </LoadState>

      {rotating && (
        <RotateKeyDialog
          apiKey={rotating}
          onClose={() => setRotating(undefined)}
          onRotated={(key) => {
            setRotating(undefined);
            setNotice(undefined);
            setRevealed({ label: "New API key", key: { ...rotating, ...key } });
            void list.reload();
          }}
        />
      )}

      {revoking && (
        <ConfirmDialog
          title="Revoke this API key?"
          confirmLabel="Revoke"
          danger
          busy={revoke.busy}
          error={revoke.error}
          onCancel={() => {
            revoke.clearError();
            setRevoking(undefined);
          }}
          onConfirm={async () => {
            const result = await revoke.run(revoking);
            if (result !== undefined) {
              setNotice(`API key ${revoking.name || keyId(revoking)} revoked.`);
              setRevoking(undefined);
              if (revealed && keyId(revealed.key) === keyId(revoking)) setRevealed(undefined);
              void list.reload();
              void limits.reload();
            }
          }}
        >
          <p>
            Requests with <strong>{revoking.name || keyId(revoking)}</strong> are refused from now on. This cannot be
            undone.
          </p>
        </ConfirmDialog>
      )}
    </>
  );
}

function CreateKeyForm({
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
  const create = useAction(() => {
    const ips = lines(allowlist);
    return api<ApiKey>(KEYS_PATH, {
      method: "POST",
      body: { organization_id: organizationId, name: name.trim(), tier, ...(ips.length ? { ip_allowlist: ips } : {}) },
    });
  });

  async function submit(event: FormEvent) {
    event.preventDefault();
    const key = await create.run();
    if (key) onCreated(key);
  }

  return (
    <section className="panel" aria-labelledby="new-key-heading">
      <h2 id="new-key-heading">New API key</h2>
      <form className="form" onSubmit={submit} noValidate>
        <ErrorBanner error={create.error} fields={["name", "tier", "ip_allowlist"]} />
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
        <div className="form-actions">
          <button type="submit" className="button button-primary" disabled={create.busy}>
            {create.busy ? "Creating…" : "Create key"}
          </button>
          <button type="button" className="button" onClick={onCancel}>
            Cancel
          </button>
        </div>
      </form>
    </section>
  );
}

function RotateKeyDialog({
  apiKey,
  onClose,
  onRotated,
}: {
  apiKey: ApiKey;
  onClose: () => void;
  onRotated: (key: ApiKey) => void;
}) {
  const [preserve, setPreserve] = useState(true);
  const [grace, setGrace] = useState(86400);
  const rotate = useAction(() =>
    api<ApiKey>(`${KEYS_PATH}/${encodeURIComponent(keyId(apiKey))}/rotate`, {
      method: "POST",
      body: { preserve_key_id: preserve, grace_seconds: grace },
    }),
  );
  return (
    <Dialog
      title={`Rotate ${apiKey.name || "API key"}`}
      onClose={onClose}
      footer={
        <>
          <button type="button" className="button" onClick={onClose}>
            Cancel
          </button>
          <button
            type="button"
            className="button button-primary"
            disabled={rotate.busy}
            onClick={async () => {
              const key = await rotate.run();
              if (key) onRotated(key);
            }}
          >
            {rotate.busy ? "Rotating…" : "Rotate"}
          </button>
        </>
      }
    >
      <fieldset className="radios">
        <legend>Key id</legend>
        <label className="check">
          <input type="radio" name="preserve" checked={preserve} onChange={() => setPreserve(true)} data-autofocus />
          <span>
            Keep the key id
            <span className="check-hint">Only the secret changes; usage history and allowlist stay with the same id.</span>
          </span>
        </label>
        <label className="check">
          <input type="radio" name="preserve" checked={!preserve} onChange={() => setPreserve(false)} />
          <span>
            New key id
            <span className="check-hint">A new key replaces this one; the old id is revoked after the grace period.</span>
          </span>
        </label>
      </fieldset>
      <div className="field">
        <label htmlFor="grace-select">The old secret keeps working for</label>
        <select id="grace-select" value={grace} onChange={(e) => setGrace(Number(e.target.value))}>
          <option value={0}>No grace period</option>
          <option value={3600}>1 hour</option>
          <option value={86400}>24 hours</option>
          <option value={604800}>7 days</option>
        </select>
      </div>
      <ErrorBanner error={rotate.error} />
    </Dialog>
  );
}
