// OAuth clients: the LMS platforms that connect to Questbridge.
import { api } from "../api";

export interface OAuthClient {
  client_id: string;
  name?: string;
  client_name?: string;
  redirect_uris?: string[];
  scopes?: string[] | string;
  scope?: string;
  grant_types?: string[];
  client_type?: "confidential" | "public" | string;
  created_at?: string;
  client_secret?: string | null;
}

/** The scopes a client may be registered with, in words (the API lists no labels). */
export const SCOPES = [
  { value: "read:profile", label: "Read the user's profile" },
  { value: "read:quests", label: "Read quests" },
  { value: "read:progress", label: "Read progress" },
  { value: "write:submissions", label: "Create submissions" },
  { value: "webhooks:manage", label: "Manage webhook subscriptions" },
  { value: "openid", label: "Sign users in (OpenID Connect)" },
  { value: "profile", label: "The user's first and last name (OpenID Connect)" },
  { value: "email", label: "The user's email address (OpenID Connect)" },
];

export interface NewOAuthClient {
  name: string;
  redirect_uris: string[];
  scopes: string[];
  public: boolean;
  /** Also server-to-server calls without a user; never for a public client. */
  client_credentials: boolean;
}

export const CLIENTS_PATH = "/api/oauth/clients";

function clientPath(clientId: string): string {
  return `${CLIENTS_PATH}/${encodeURIComponent(clientId)}`;
}

export function createClient(organizationId: string, client: NewOAuthClient): Promise<OAuthClient> {
  return api<OAuthClient>(CLIENTS_PATH, {
    method: "POST",
    body: {
      organization_id: organizationId,
      client_type: client.public ? "public" : "confidential",
      name: client.name,
      redirect_uris: client.redirect_uris,
      scopes: client.scopes,
      grant_types:
        client.client_credentials && !client.public
          ? ["authorization_code", "refresh_token", "client_credentials"]
          : ["authorization_code", "refresh_token"],
    },
  });
}

export function rotateClientSecret(clientId: string): Promise<{ client_id: string; client_secret: string }> {
  return api(`${clientPath(clientId)}/rotate-secret`, { method: "POST", body: {} });
}

export function deleteClient(clientId: string): Promise<unknown> {
  return api(clientPath(clientId), { method: "DELETE" });
}
