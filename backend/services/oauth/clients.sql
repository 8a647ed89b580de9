-- name: client_organization --
-- Run as service_role: which organization owns a client, so that a member is told 403 rather
-- than 404. Nothing else about the row is read this way.
select organization_id from public.oauth_clients where client_id = %(client_id)s;

-- name: insert_principal --
-- The service user client-credentials tokens act as; the auth.users trigger gives it a profile.
insert into auth.users (id, email, raw_user_meta_data)
values (%(id)s, %(email)s, jsonb_build_object('questbridge_oauth_client', %(client_id)s::text));

-- name: name_principal --
update public.profiles set display_name = %(display_name)s where id = %(id)s;

-- name: insert_principal_membership --
insert into public.memberships (organization_id, user_id, role)
values (%(organization_id)s, %(id)s, 'member');

-- name: delete_principal --
delete from auth.users where id = %(id)s;

-- name: insert_client --
insert into public.oauth_clients
  (client_id, organization_id, name, client_type, secret_hash, redirect_uris, scopes, grant_types, pkce_required,
   principal_id, created_by)
values
  (%(client_id)s, %(organization_id)s, %(name)s, %(client_type)s, %(secret_hash)s, %(redirect_uris)s::text[],
   %(scopes)s::text[], %(grant_types)s::text[], %(pkce_required)s, %(principal_id)s, %(created_by)s);

-- name: get_client --
select client_id, id, organization_id, name, client_type, redirect_uris, scopes, grant_types, pkce_required,
       principal_id, secret_rotated_at, created_by, created_at, updated_at
from public.oauth_clients
where client_id = %(client_id)s;

-- name: list_clients --
select client_id, id, organization_id, name, client_type, redirect_uris, scopes, grant_types, pkce_required,
       principal_id, secret_rotated_at, created_by, created_at, updated_at
from public.oauth_clients
-- One organization, or every one the caller administers (not the clients they merely authorized).
where (organization_id = %(organization_id)s::uuid
       or (%(organization_id)s::uuid is null and private.is_org_admin(organization_id)))
  and (%(after_created_at)s::timestamptz is null
       or (created_at, id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid))
order by created_at desc, id desc
limit %(limit)s;

-- name: update_client --
update public.oauth_clients
set name = coalesce(%(name)s, name),
    redirect_uris = coalesce(%(redirect_uris)s::text[], redirect_uris),
    pkce_required = coalesce(%(pkce_required)s::boolean, pkce_required),
    updated_at = now()
where client_id = %(client_id)s
returning client_id;

-- name: delete_client --
delete from public.oauth_clients where client_id = %(client_id)s returning principal_id;

-- name: rotate_secret --
update public.oauth_clients
set secret_hash = %(secret_hash)s, secret_rotated_at = now(), updated_at = now()
where client_id = %(client_id)s and client_type = 'confidential'
returning client_id, secret_rotated_at;

-- name: load_client --
-- Run as service_role by the token and authorization endpoints.
select client_id, organization_id, name, client_type, secret_hash, redirect_uris, scopes, grant_types,
       pkce_required, principal_id
from public.oauth_clients
where client_id = %(client_id)s;

-- name: organization_name --
select name from public.organizations where id = %(organization_id)s;

-- name: membership_role --
select role from public.memberships where organization_id = %(organization_id)s and user_id = %(user_id)s;

-- name: load_client_with_failures --
-- Run as service_role by client authentication: the client and the failures counted against this
-- client and address, and against the address, in the current window, in one round trip.
select c.client_id, c.organization_id, c.name, c.client_type, c.secret_hash, c.redirect_uris, c.scopes,
       c.grant_types, c.pkce_required, c.principal_id,
       coalesce((select r.count from public.rate_limit_counters r
                 where r.bucket = %(pair_bucket)s and r.window_start = %(window_start)s), 0) as pair_failures,
       coalesce((select r.count from public.rate_limit_counters r
                 where r.bucket = %(ip_bucket)s and r.window_start = %(window_start)s), 0) as ip_failures
from (select 1) as one
left join public.oauth_clients c on c.client_id = %(client_id)s;
