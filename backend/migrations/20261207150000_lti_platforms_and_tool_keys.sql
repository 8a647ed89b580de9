-- LTI 1.3: Questbridge is the tool, each LMS that launches it a platform. An organization's admins
-- register the platforms their courses live in; the tool's RSA keys (RS256 is all Canvas and Moodle
-- accept) sign what we send platforms and are published at /lti/jwks.json. Private keys are
-- encrypted at rest like webhook signing secrets; the next key is published before it signs.

create table public.lti_platforms (
  id uuid not null default gen_random_uuid(),
  organization_id uuid not null,
  name text not null,
  issuer text not null,
  client_id text not null,
  deployment_ids text[] not null default '{}',
  auth_login_url text not null,
  auth_token_url text not null,
  key_set_url text not null,
  auth_token_audience text,
  created_by uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint lti_platforms_pkey primary key (id),
  -- A launch names its platform by (iss, aud): one registration answers for each pair.
  constraint lti_platforms_issuer_client_id_key unique (issuer, client_id),
  constraint lti_platforms_name_length check (length(name) between 1 and 200),
  constraint lti_platforms_issuer_length check (length(issuer) between 1 and 2048),
  constraint lti_platforms_client_id_length check (length(client_id) between 1 and 255),
  constraint lti_platforms_deployment_ids_count check (cardinality(deployment_ids) <= 100),
  constraint lti_platforms_auth_login_url_length check (length(auth_login_url) between 8 and 2048),
  constraint lti_platforms_auth_token_url_length check (length(auth_token_url) between 8 and 2048),
  constraint lti_platforms_key_set_url_length check (length(key_set_url) between 8 and 2048),
  constraint lti_platforms_auth_token_audience_length check (length(auth_token_audience) between 1 and 2048),
  constraint lti_platforms_organization_id_fkey foreign key (organization_id)
    references public.organizations (id) on delete cascade,
  constraint lti_platforms_created_by_fkey foreign key (created_by)
    references public.profiles (id) on delete set null
);
create index lti_platforms_org_created_at_idx on public.lti_platforms (organization_id, created_at desc, id desc);
comment on table public.lti_platforms is 'An LMS (Canvas, Moodle, Blackboard) registered by an organization to launch Questbridge as an LTI 1.3 tool.';

create table public.lti_tool_keys (
  kid text not null,
  algorithm text not null default 'RS256',
  public_jwk jsonb not null,
  private_key_encrypted bytea not null,
  activates_at timestamptz not null,
  retires_at timestamptz,
  created_at timestamptz not null default now(),
  constraint lti_tool_keys_pkey primary key (kid),
  constraint lti_tool_keys_algorithm_check check (algorithm in ('RS256')),
  constraint lti_tool_keys_retires_after_activation check (retires_at is null or retires_at > activates_at)
);
create index lti_tool_keys_activates_at_idx on public.lti_tool_keys (activates_at desc);
comment on table public.lti_tool_keys is 'The LTI tool''s RSA keys (RS256); the private key is AES-GCM encrypted; the next key is published before it signs.';

-- Grants: revoke everything, then the least each role needs. Org admins manage their platforms
-- (RLS decides which); the tool keys belong to the system alone.
revoke all on public.lti_platforms, public.lti_tool_keys from public, anon, authenticated;
grant all on public.lti_platforms, public.lti_tool_keys to service_role;
grant select, delete on public.lti_platforms to authenticated;
grant insert (organization_id, name, issuer, client_id, deployment_ids, auth_login_url, auth_token_url, key_set_url,
  auth_token_audience, created_by)
  on public.lti_platforms to authenticated;
grant update (name, issuer, client_id, deployment_ids, auth_login_url, auth_token_url, key_set_url,
  auth_token_audience, updated_at)
  on public.lti_platforms to authenticated;

alter table public.lti_platforms enable row level security;
alter table public.lti_tool_keys enable row level security;

create policy "Org admins see their organization's LMS platforms"
on public.lti_platforms for select to authenticated
using (private.is_org_admin(organization_id));

create policy "Org admins register LMS platforms for their organization"
on public.lti_platforms for insert to authenticated
with check (private.is_org_admin(organization_id) and (created_by is null or created_by = (select auth.uid())));

create policy "Org admins edit their organization's LMS platforms"
on public.lti_platforms for update to authenticated
using (private.is_org_admin(organization_id)) with check (private.is_org_admin(organization_id));

create policy "Org admins delete their organization's LMS platforms"
on public.lti_platforms for delete to authenticated
using (private.is_org_admin(organization_id));
