-- name: platform_organization --
-- Run as service_role: which organization owns a platform, so that a member is told 403 rather
-- than 404. Nothing else about the row is read this way.
select organization_id from public.lti_platforms where id = %(id)s;

-- name: platform_exists --
-- Run as service_role for GET /lti/canvas.json, which the LMS fetches without our session.
select exists (select 1 from public.lti_platforms where id = %(id)s) as found;

-- name: insert_platform --
insert into public.lti_platforms (organization_id, name, issuer, client_id, deployment_ids, auth_login_url,
  auth_token_url, key_set_url, auth_token_audience, created_by)
values (%(organization_id)s, %(name)s, %(issuer)s, %(client_id)s, %(deployment_ids)s, %(auth_login_url)s,
  %(auth_token_url)s, %(key_set_url)s, %(auth_token_audience)s, %(created_by)s)
returning id;

-- name: get_platform --
select id, organization_id, name, issuer, client_id, deployment_ids, auth_login_url, auth_token_url, key_set_url,
       auth_token_audience, created_at, updated_at
from public.lti_platforms
where id = %(id)s;

-- name: list_platforms --
select id, organization_id, name, issuer, client_id, deployment_ids, auth_login_url, auth_token_url, key_set_url,
       auth_token_audience, created_at, updated_at
from public.lti_platforms
where organization_id = %(organization_id)s
  and (%(after_created_at)s::timestamptz is null
       or (created_at, id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid))
order by created_at desc, id desc
limit %(limit)s;

-- name: update_platform --
-- A field left out (null) keeps its value; auth_token_audience is cleared by clear_audience.
update public.lti_platforms
set name = coalesce(%(name)s, name),
    issuer = coalesce(%(issuer)s, issuer),
    client_id = coalesce(%(client_id)s, client_id),
    deployment_ids = coalesce(%(deployment_ids)s, deployment_ids),
    auth_login_url = coalesce(%(auth_login_url)s, auth_login_url),
    auth_token_url = coalesce(%(auth_token_url)s, auth_token_url),
    key_set_url = coalesce(%(key_set_url)s, key_set_url),
    auth_token_audience = case when %(clear_audience)s then null
                               else coalesce(%(auth_token_audience)s, auth_token_audience) end,
    updated_at = now()
where id = %(id)s
returning id;

-- name: delete_platform --
delete from public.lti_platforms where id = %(id)s;
