import { useState, type FormEvent } from "react";
import { api, type OAuthClient } from "../../api";
import { useOrganization } from "../../auth";
import { ConfirmDialog } from "../../components/Dialog";
import { Time } from "../../components/display";
import { Empty, ErrorBanner, LoadMore, LoadState, Notice, PageTitle } from "../../components/feedback";
import { Field, FieldMessages, hasFieldError, lines } from "../../components/forms";
import { SecretReveal } from "../../components/SecretReveal";
import { useAction, usePagedList } from "../../hooks";

export const SCOPES = [
  { value: "read:profile", label: "Read the user's profile" },
  { value: "read:quests", label: "Read quests" },
  { value: "read:progress", label: "Read progress" },
  { value: "write:submissions", label: "Create submissions" },
  { value: "webhooks:manage", label: "Manage webhook subscriptions" },
];

const CLIENTS_PATH = "/api/oauth/clients";

function clientName(client: OAuthClient): string {
  return client.name ?? client.client_name ?? client.client_id;
}

function clientScopes(client: OAuthClient): string[] {
  if (Array.isArray(client.scopes)) return client.scopes;
  const text = typeof client.scopes === "string" ? client.scopes : client.scope;
  return text ? text.split(/\s+/).filter(Boolean) : [];
}

export function OAuthClientsPage() {
  const organization = useOrganization();
  const list = usePagedList<OAuthClient>(CLIENTS_PATH, { organization_id: organization.id });
  const [creating, setCreating] = useState(false);
  const [revealed, setRevealed] = useState<{ clientId: string; secret: string; label: string }>();
  const [confirm, setConfirm] = useState<{ client: OAuthClient; action: "rotate" | "delete" }>();
  const [notice, setNotice] = useState<string>();

  const rotate = useAction((client: OAuthClient) =>
    api<{ client_id: string; client_secret: string }>(`${CLIENTS_PATH}/${encodeURIComponent(client.client_id)}/rotate-secret`, {
      method: "POST",
      body: {},
    }),
  );
  const remove = useAction((client: OAuthClient) =>
    api(`${CLIENTS_PATH}/${encodeURIComponent(client.client_id)}`, { method: "DELETE" }),
  );
  const pending = confirm?.action === "rotate" ? rotate : remove;

  return (
    <>
      <PageTitle
        actions={
          !creating && (
            <button type="button" className="button button-primary" onClick={() => setCreating(true)}>
              New OAuth client
            </button>
          )
        }
      >
        OAuth clients
      </PageTitle>
      <p className="muted">LMS platforms that connect on behalf of users (authorization code with PKCE) or as themselves.</p>
      <Notice>{notice}</Notice>

      {revealed && (
        <div className="panel">
          <SecretReveal label={revealed.label} secret={revealed.secret} onDone={() => setRevealed(undefined)}>
            <p>
              Client id <code data-testid="client-id">{revealed.clientId}</code>
            </p>
          </SecretReveal>
        </div>
      )}

      {creating && (
        <CreateClientForm
          organizationId={organization.id}
          onCancel={() => setCreating(false)}
          onCreated={(client) => {
            setCreating(false);
            setNotice(undefined);
            if (client.client_secret) {
              setRevealed({ clientId: client.client_id, secret: client.client_secret, label: "Client secret" });
            }
            void list.reload();
          }}
        />
      )}

      <LoadState what="OAuth clients" loading={list.loading} error={list.error} hasData={Boolean(list.items)} onRetry={list.reload}>
        {list.items && list.items.length === 0 ? (
          <Empty title="No OAuth clients yet">Register each LMS platform that connects to Questbridge.</Empty>
        ) : (
          <div className="table-wrap">
            <table className="table table-stack" data-testid="clients-table">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Client id</th>
                  <th scope="col">Redirect URIs</th>
                  <th scope="col">Scopes</th>
                  <th scope="col">Created</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {list.items?.map((client) => (
                  <tr key={client.client_id}>
                    <th scope="row" data-label="Name">
                      {clientName(client)}
                      {client.client_type === "public" && <div className="muted small">public client</div>}
                    </th>
                    <td data-label="Client id">
                      <code>{client.client_id}</code>
                    </td>
                    <td data-label="Redirect URIs">
                      {(client.redirect_uris ?? []).map((uri) => (
                        <div key={uri} className="url">
                          {uri}
                        </div>
                      ))}
                    </td>
                    <td data-label="Scopes">
                      <span className="types">
                        {clientScopes(client).map((scope) => (
                          <code key={scope}>{scope}</code>
                        ))}
                      </span>
                    </td>
                    <td data-label="Created">
                      <Time value={client.created_at} />
                    </td>
                    <td data-label="Actions">
                      <div className="button-row">
                        {client.client_type !== "public" && (
                          <button
                            type="button"
                            className="button button-small"
                            onClick={() => setConfirm({ client, action: "rotate" })}
                          >
                            Rotate secret…
                          </button>
                        )}
                        <button
                          type="button"
                          className="button button-small button-danger"
                          onClick={() => setConfirm({ client, action: "delete" })}
                        >
                          Delete…
                        </button>
                      </div>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <LoadMore list={list} />
      </LoadState>

      {confirm && (
        <ConfirmDialog
          title={confirm.action === "rotate" ? "Rotate the client secret?" : "Delete this OAuth client?"}
          confirmLabel={confirm.action === "rotate" ? "Rotate" : "Delete"}
          danger={confirm.action === "delete"}
          busy={pending.busy}
          error={pending.error}
          onCancel={() => {
            pending.clearError();
            setConfirm(undefined);
          }}
          onConfirm={async () => {
            const { client, action } = confirm;
            if (action === "rotate") {
              const result = await rotate.run(client);
              if (result) {
                setRevealed({ clientId: client.client_id, secret: result.client_secret, label: "New client secret" });
                setConfirm(undefined);
              }
            } else {
              const result = await remove.run(client);
              if (result !== undefined) {
                // Its secret is worthless now: do not leave it on screen.
                setRevealed((shown) => (shown?.clientId === client.client_id ? undefined : shown));
                setNotice(`${clientName(client)} deleted.`);
                setConfirm(undefined);
                void list.reload();
              }
            }
          }}
        >
          {confirm.action === "rotate" ? (
            <p>
              {clientName(confirm.client)} must use the new secret from now on; requests with the old one are refused.
            </p>
          ) : (
            <p>
              {clientName(confirm.client)} can no longer sign users in, and its tokens stop working. This cannot be undone.
            </p>
          )}
        </ConfirmDialog>
      )}
    </>
  );
}

function CreateClientForm({
  organizationId,
  onCreated,
  onCancel,
}: {
  organizationId: string;
  onCreated: (client: OAuthClient) => void;
  onCancel: () => void;
}) {
  const [name, setName] = useState("");
  const [redirects, setRedirects] = useState("");
  const [scopes, setScopes] = useState<string[]>(["read:profile"]);
  const [machine, setMachine] = useState(false);
  const [isPublic, setIsPublic] = useState(false);
  const create = useAction(() =>
    api<OAuthClient>(CLIENTS_PATH, {
      method: "POST",
      body: {
        organization_id: organizationId,
        client_type: isPublic ? "public" : "confidential",
        name: name.trim(),
        redirect_uris: lines(redirects),
        scopes,
        grant_types: machine && !isPublic
          ? ["authorization_code", "refresh_token", "client_credentials"]
          : ["authorization_code", "refresh_token"],
      },
    }),
  );

  async function submit(event: FormEvent) {
    event.preventDefault();
    const client = await create.run();
    if (client) onCreated(client);
  }

  return (
    <section className="panel" aria-labelledby="new-client-heading">
      <h2 id="new-client-heading">New OAuth client</h2>
      <form className="form" onSubmit={submit} noValidate>
        <ErrorBanner error={create.error} fields={["name", "redirect_uris", "scopes", "scope", "grant_types"]} />
        <Field label="Name" name="name" error={create.error} hint="Shown to users on the consent screen.">
          {(props) => <input {...props} name="name" required maxLength={200} value={name} onChange={(e) => setName(e.target.value)} />}
        </Field>
        <Field
          label="Redirect URIs"
          name="redirect_uris"
          error={create.error}
          hint="One per line, matched exactly. HTTPS, or http://127.0.0.1 for local tools."
        >
          {(props) => (
            <textarea
              {...props}
              name="redirect_uris"
              rows={3}
              value={redirects}
              placeholder="https://lms.example.org/oauth/callback"
              onChange={(e) => setRedirects(e.target.value)}
            />
          )}
        </Field>
        <fieldset className="picker" aria-invalid={hasFieldError(create.error, ["scopes", "scope"]) || undefined}>
          <legend>Scopes</legend>
          <div className="picker-options">
            {SCOPES.map((scope) => (
              <label key={scope.value} className="check">
                <input
                  type="checkbox"
                  value={scope.value}
                  checked={scopes.includes(scope.value)}
                  onChange={(event) =>
                    setScopes(
                      event.target.checked ? [...scopes, scope.value] : scopes.filter((item) => item !== scope.value),
                    )
                  }
                />
                <span>
                  <code>{scope.value}</code>
                  <span className="check-hint">{scope.label}</span>
                </span>
              </label>
            ))}
          </div>
        </fieldset>
        <FieldMessages id="scopes-error" error={create.error} name={["scopes", "scope"]} />
        <FieldMessages id="grant-types-error" error={create.error} name="grant_types" />
        <label className="check">
          <input type="checkbox" checked={isPublic} onChange={(event) => setIsPublic(event.target.checked)} />
          <span>
            Public client
            <span className="check-hint">No secret (an app in a browser or on a phone); PKCE protects its sign-ins.</span>
          </span>
        </label>
        <label className={`check${isPublic ? " check-disabled" : ""}`}>
          <input
            type="checkbox"
            checked={machine && !isPublic}
            disabled={isPublic}
            onChange={(event) => setMachine(event.target.checked)}
          />
          <span>
            Also allow client credentials
            <span className="check-hint">For server-to-server calls without a user.</span>
          </span>
        </label>
        <div className="form-actions">
          <button type="submit" className="button button-primary" disabled={create.busy}>
            {create.busy ? "Creating…" : "Create client"}
          </button>
          <button type="button" className="button" onClick={onCancel}>
            Cancel
          </button>
        </div>
      </form>
    </section>
  );
}
