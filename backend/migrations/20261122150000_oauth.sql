-- The OAuth 2.0 authorization server: clients registered by organizations, users' consents,
-- authorization codes, grants with their rotating refresh tokens, the access tokens issued (by
-- jti, so revocation takes effect at once) and the asymmetric keys that sign them.

create table public.oauth_clients (
  client_id text not null,
  id uuid not null default gen_random_uuid(),
  organization_id uuid not null,
  name text not null,
  client_type text not null default 'confidential',
  secret_hash bytea,
  secret_rotated_at timestamptz,
  redirect_uris text[] not null default '{}',
  scopes text[] not null,
  grant_types text[] not null,
  pkce_required boolean not null default true,
  principal_id uuid,
  created_by uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint oauth_clients_pkey primary key (client_id),
  constraint oauth_clients_id_key unique (id),
  constraint oauth_clients_client_id_format check (client_id ~ '^[A-Za-z0-9_-]{16,64}$'),
  constraint oauth_clients_name_length check (length(btrim(name)) between 1 and 200),
  constraint oauth_clients_client_type_check check (client_type in ('confidential', 'public')),
  constraint oauth_clients_secret_matches_type check ((client_type = 'confidential') = (secret_hash is not null)),
  constraint oauth_clients_public_clients_use_pkce check (client_type = 'confidential' or pkce_required),
  constraint oauth_clients_redirect_uris_count check (cardinality(redirect_uris) <= 10),
  constraint oauth_clients_scopes_known check (
    cardinality(scopes) >= 1
    and scopes <@ array['read:profile', 'read:quests', 'read:progress', 'write:submissions', 'webhooks:manage']
  ),
  constraint oauth_clients_grant_types_known check (
    cardinality(grant_types) >= 1
    and grant_types <@ array['authorization_code', 'refresh_token', 'client_credentials']
  ),
  constraint oauth_clients_organization_id_fkey foreign key (organization_id) references public.organizations (id) on delete cascade,
  constraint oauth_clients_principal_id_fkey foreign key (principal_id) references public.profiles (id) on delete set null,
  constraint oauth_clients_created_by_fkey foreign key (created_by) references public.profiles (id) on delete set null
);
create index oauth_clients_organization_id_created_at_idx on public.oauth_clients (organization_id, created_at desc);
comment on table public.oauth_clients is 'Applications (LMS platforms, internal tools) an organization registered; secrets are stored as SHA-256 hashes.';

create table public.oauth_consents (
  user_id uuid not null,
  client_id text not null,
  scopes text[] not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint oauth_consents_pkey primary key (user_id, client_id),
  constraint oauth_consents_user_id_fkey foreign key (user_id) references public.profiles (id) on delete cascade,
  constraint oauth_consents_client_id_fkey foreign key (client_id) references public.oauth_clients (client_id) on delete cascade
);
create index oauth_consents_client_id_idx on public.oauth_consents (client_id);
comment on table public.oauth_consents is 'The scopes a user allowed an application; a later request within them skips the consent page.';

create table public.oauth_grants (
  id uuid not null default gen_random_uuid(),
  client_id text not null,
  user_id uuid not null,
  organization_id uuid not null,
  scope text not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  revoked_at timestamptz,
  revoked_reason text,
  constraint oauth_grants_pkey primary key (id),
  constraint oauth_grants_client_id_fkey foreign key (client_id) references public.oauth_clients (client_id) on delete cascade,
  constraint oauth_grants_user_id_fkey foreign key (user_id) references public.profiles (id) on delete cascade
);
create index oauth_grants_user_id_client_id_idx on public.oauth_grants (user_id, client_id);
create index oauth_grants_client_id_idx on public.oauth_grants (client_id);
create index oauth_grants_expires_at_idx on public.oauth_grants (expires_at);
comment on table public.oauth_grants is 'One authorization (a redeemed code): the family of refresh and access tokens it produced, revoked together.';

create table public.oauth_authorization_codes (
  code_hash bytea not null,
  client_id text not null,
  user_id uuid not null,
  redirect_uri text,
  scope text not null,
  code_challenge text,
  code_challenge_method text,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  used_at timestamptz,
  grant_id uuid,
  constraint oauth_authorization_codes_pkey primary key (code_hash),
  constraint oauth_authorization_codes_challenge_method_check check (code_challenge_method is null or code_challenge_method = 'S256'),
  constraint oauth_authorization_codes_client_id_fkey foreign key (client_id) references public.oauth_clients (client_id) on delete cascade,
  constraint oauth_authorization_codes_user_id_fkey foreign key (user_id) references public.profiles (id) on delete cascade,
  constraint oauth_authorization_codes_grant_id_fkey foreign key (grant_id) references public.oauth_grants (id) on delete set null
);
create index oauth_authorization_codes_expires_at_idx on public.oauth_authorization_codes (expires_at);
create index oauth_authorization_codes_grant_id_idx on public.oauth_authorization_codes (grant_id);
comment on table public.oauth_authorization_codes is 'Single-use codes (hashed), 10 minutes; a used code stays to detect replays and revoke what it produced.';

create table public.oauth_refresh_tokens (
  token_hash bytea not null,
  grant_id uuid not null,
  scope text not null,
  created_at timestamptz not null default now(),
  rotated_at timestamptz,
  constraint oauth_refresh_tokens_pkey primary key (token_hash),
  constraint oauth_refresh_tokens_grant_id_fkey foreign key (grant_id) references public.oauth_grants (id) on delete cascade
);
create index oauth_refresh_tokens_grant_id_idx on public.oauth_refresh_tokens (grant_id);
comment on table public.oauth_refresh_tokens is 'Refresh tokens (hashed), rotated on every use; a rotated one presented again revokes its grant.';

create table public.oauth_access_tokens (
  jti uuid not null,
  client_id text not null,
  grant_id uuid,
  user_id uuid not null,
  organization_id uuid not null,
  scope text not null,
  issued_at timestamptz not null default now(),
  expires_at timestamptz not null,
  revoked_at timestamptz,
  constraint oauth_access_tokens_pkey primary key (jti),
  constraint oauth_access_tokens_client_id_fkey foreign key (client_id) references public.oauth_clients (client_id) on delete cascade,
  constraint oauth_access_tokens_grant_id_fkey foreign key (grant_id) references public.oauth_grants (id) on delete cascade,
  constraint oauth_access_tokens_user_id_fkey foreign key (user_id) references public.profiles (id) on delete cascade
);
create index oauth_access_tokens_grant_id_idx on public.oauth_access_tokens (grant_id);
create index oauth_access_tokens_client_id_idx on public.oauth_access_tokens (client_id);
create index oauth_access_tokens_expires_at_idx on public.oauth_access_tokens (expires_at);
comment on table public.oauth_access_tokens is 'Every JWT access token issued, by jti: the API looks each one up so revocation takes effect at once.';

create table public.oauth_signing_keys (
  kid text not null,
  algorithm text not null default 'ES256',
  public_jwk jsonb not null,
  private_key_encrypted bytea not null,
  activates_at timestamptz not null,
  retires_at timestamptz,
  created_at timestamptz not null default now(),
  constraint oauth_signing_keys_pkey primary key (kid),
  constraint oauth_signing_keys_algorithm_check check (algorithm in ('ES256')),
  constraint oauth_signing_keys_retires_after_activation check (retires_at is null or retires_at > activates_at)
);
create index oauth_signing_keys_activates_at_idx on public.oauth_signing_keys (activates_at desc);
comment on table public.oauth_signing_keys is 'Keys signing access-token JWTs; the private key is AES-GCM encrypted; the next key is published before it signs.';

-- Grants: revoke everything, then grant the least each role needs. Codes, grants, tokens and
-- keys belong to the system alone (service_role); users and admins reach them through the API.
revoke all on public.oauth_clients, public.oauth_consents, public.oauth_grants,
  public.oauth_authorization_codes, public.oauth_refresh_tokens, public.oauth_access_tokens,
  public.oauth_signing_keys
  from public, anon, authenticated;
grant all on public.oauth_clients, public.oauth_consents, public.oauth_grants,
  public.oauth_authorization_codes, public.oauth_refresh_tokens, public.oauth_access_tokens,
  public.oauth_signing_keys
  to service_role;

-- Org admins manage their clients; the secret hash is written, never read back.
grant select (client_id, id, organization_id, name, client_type, secret_rotated_at, redirect_uris, scopes, grant_types,
  pkce_required, principal_id, created_by, created_at, updated_at)
  on public.oauth_clients to authenticated;
grant insert (client_id, organization_id, name, client_type, secret_hash, redirect_uris, scopes, grant_types,
  pkce_required, principal_id, created_by)
  on public.oauth_clients to authenticated;
grant update (name, redirect_uris, pkce_required, secret_hash, secret_rotated_at, updated_at)
  on public.oauth_clients to authenticated;
grant delete on public.oauth_clients to authenticated;
-- Consents are given through the consent page (the system writes them); users list and revoke theirs.
grant select, delete on public.oauth_consents to authenticated;

alter table public.oauth_clients enable row level security;
alter table public.oauth_consents enable row level security;
alter table public.oauth_grants enable row level security;
alter table public.oauth_authorization_codes enable row level security;
alter table public.oauth_refresh_tokens enable row level security;
alter table public.oauth_access_tokens enable row level security;
alter table public.oauth_signing_keys enable row level security;

create policy "Org admins see their organization's OAuth clients and users see those they authorized"
on public.oauth_clients for select to authenticated
using (
  private.is_org_admin(organization_id)
  or exists (
    select 1 from public.oauth_consents c
    where c.client_id = oauth_clients.client_id and c.user_id = (select auth.uid())
  )
);

create policy "Org admins register OAuth clients for their organization"
on public.oauth_clients for insert to authenticated
with check (private.is_org_admin(organization_id));

create policy "Org admins edit their organization's OAuth clients"
on public.oauth_clients for update to authenticated
using (private.is_org_admin(organization_id)) with check (private.is_org_admin(organization_id));

create policy "Org admins delete their organization's OAuth clients"
on public.oauth_clients for delete to authenticated
using (private.is_org_admin(organization_id));

create policy "Users see the applications they authorized"
on public.oauth_consents for select to authenticated
using (user_id = (select auth.uid()));

create policy "Users revoke the applications they authorized"
on public.oauth_consents for delete to authenticated
using (user_id = (select auth.uid()));
