// /oauth-clients: the LMS platforms registered as OAuth clients; create, rotate a secret, delete.
import { useState } from "react";
import { CLIENTS_PATH, deleteClient, rotateClientSecret, type OAuthClient } from "../../api/oauthClients";
import { useOrganization } from "../../auth";
import { ConfirmDialog } from "../../components/Dialog";
import { Time } from "../../components/display";
import { Empty, Notice, PageTitle } from "../../components/feedback";
import { PagedTable, RowActions, Table } from "../../components/Table";
import { SecretReveal } from "../../components/SecretReveal";
import { useAction, usePagedList } from "../../hooks";
import { CreateClientForm } from "./Form";

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

  const rotate = useAction((client: OAuthClient) => rotateClientSecret(client.client_id));
  const remove = useAction((client: OAuthClient) => deleteClient(client.client_id));
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

      <PagedTable
        what="OAuth clients"
        list={list}
        empty={
          <Empty title="No OAuth clients yet">Register each LMS platform that connects to Questbridge.</Empty>
        }
      >
        <Table testId="clients-table" columns={["Name", "Client id", "Redirect URIs", "Scopes", "Created", "Actions"]}>
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
              <RowActions>
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
              </RowActions>
            </tr>
          ))}
        </Table>
      </PagedTable>

      {confirm && (
        <ConfirmDialog
          title={confirm.action === "rotate" ? "Rotate the client secret?" : "Delete this OAuth client?"}
          confirmLabel={confirm.action === "rotate" ? "Rotate" : "Delete"}
          danger={confirm.action === "delete"}
          action={pending}
          onCancel={() => setConfirm(undefined)}
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
