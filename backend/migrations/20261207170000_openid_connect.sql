-- OpenID Connect on the OAuth server: users' given and family names, the openid profile email
-- scopes, the nonce and sign-in time an authorization code carries into its id_token, and the RSA
-- keys (RS256) that sign id_tokens, rotated like the other signing-key families.

alter table public.profiles
  add column given_name text,
  add column family_name text,
  add constraint profiles_given_name_length check (length(given_name) <= 100),
  add constraint profiles_family_name_length check (length(family_name) <= 100);
grant update (given_name, family_name) on public.profiles to authenticated;

-- The names an admin may give with an invitation, for the account that accepting creates.
alter table public.invitations
  add column given_name text,
  add column family_name text,
  add constraint invitations_given_name_length check (length(given_name) <= 100),
  add constraint invitations_family_name_length check (length(family_name) <= 100);

alter table public.oauth_clients
  drop constraint oauth_clients_scopes_known,
  add constraint oauth_clients_scopes_known check (
    cardinality(scopes) >= 1
    and scopes <@ array['read:profile', 'read:quests', 'read:progress', 'write:submissions', 'webhooks:manage',
                        'openid', 'profile', 'email']
  );

alter table public.oauth_authorization_codes
  add column nonce text,
  add column auth_time timestamptz,
  add constraint oauth_authorization_codes_nonce_length check (length(nonce) <= 2048);
-- A nonce is refused when the client sent it before (a replayed authentication request).
create index oauth_authorization_codes_client_id_nonce_idx on public.oauth_authorization_codes (client_id, nonce)
  where nonce is not null;

-- The shape every family of services/shared/signing_keys.py has: the LTI tool keys' table, also RS256.
create table public.oidc_signing_keys (like public.lti_tool_keys including all);
comment on table public.oidc_signing_keys is 'The RSA keys (RS256) that sign OpenID Connect id_tokens; the private key is AES-GCM encrypted; the next key is published before it signs.';

revoke all on public.oidc_signing_keys from public, anon, authenticated;
grant all on public.oidc_signing_keys to service_role;
alter table public.oidc_signing_keys enable row level security;
