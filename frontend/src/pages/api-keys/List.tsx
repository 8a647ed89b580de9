// /api-keys: the organization's API keys within its limits; create, rotate and revoke.
import { useState } from "react";
import {
  isUsable,
  keyId,
  keyStatus,
  KEYS_PATH,
  limitsPath,
  revokeKey,
  type ApiKey,
  type OrganizationLimits,
} from "../../api/apiKeys";
import { useOrganization } from "../../auth";
import { ConfirmDialog } from "../../components/Dialog";
import { StatusBadge, Time } from "../../components/display";
import { Empty, ErrorBanner, Notice, PageTitle } from "../../components/feedback";
import { PagedTable, RowActions, Table } from "../../components/Table";
import { SecretReveal } from "../../components/SecretReveal";
import { useAction, useApi, usePagedList } from "../../hooks";
import { CreateKeyForm } from "./Form";
import { RotateKeyDialog } from "./RotateDialog";

export function ApiKeysPage() {
  const organization = useOrganization();
  const list = usePagedList<ApiKey>(KEYS_PATH, { organization_id: organization.id });
  const limits = useApi<OrganizationLimits>(limitsPath(organization.id));
  const full = limits.data !== undefined && limits.data.api_keys >= limits.data.max_api_keys;
  const [creating, setCreating] = useState(false);
  const [revealed, setRevealed] = useState<{ label: string; key: ApiKey }>();
  const [rotating, setRotating] = useState<ApiKey>();
  const [revoking, setRevoking] = useState<ApiKey>();
  const [notice, setNotice] = useState<string>();

  const revoke = useAction((key: ApiKey) => revokeKey(keyId(key)));

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

      <PagedTable
        what="API keys"
        list={list}
        empty={
          <Empty title="No API keys yet">Create one for each partner system that calls the external API.</Empty>
        }
      >
        <Table
          testId="keys-table"
          columns={[
            "Name",
            "Status",
            "Key id",
            "Tier",
            "IP allowlist",
            "Created",
            "Last used",
            "Actions",
          ]}
        >
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
              <RowActions show={isUsable(key)}>
                {keyStatus(key) === "active" && (
                  <button type="button" className="button button-small" onClick={() => setRotating(key)}>
                    Rotate…
                  </button>
                )}
                <button type="button" className="button button-small button-danger" onClick={() => setRevoking(key)}>
                  Revoke…
                </button>
              </RowActions>
            </tr>
          ))}
        </Table>
      </PagedTable>

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
          action={revoke}
          onCancel={() => setRevoking(undefined)}
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
