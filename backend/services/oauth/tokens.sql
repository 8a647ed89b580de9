-- name: insert_code --
insert into public.oauth_authorization_codes
  (code_hash, client_id, user_id, redirect_uri, scope, code_challenge, code_challenge_method, nonce, auth_time,
   expires_at)
values
  (%(code_hash)s, %(client_id)s, %(user_id)s, %(redirect_uri)s, %(scope)s, %(code_challenge)s,
   %(code_challenge_method)s, %(nonce)s, %(auth_time)s, now() + make_interval(secs => %(ttl)s));

-- name: lock_code --
-- The row lock makes redemption single-use: a concurrent redemption waits, then sees used_at.
select code_hash, client_id, user_id, redirect_uri, scope, code_challenge, code_challenge_method, nonce, auth_time,
       expires_at <= now() as expired, used_at, grant_id
from public.oauth_authorization_codes
where code_hash = %(code_hash)s
for update;

-- name: mark_code_used --
update public.oauth_authorization_codes set used_at = now() where code_hash = %(code_hash)s;

-- name: link_code_to_grant --
update public.oauth_authorization_codes set grant_id = %(grant_id)s where code_hash = %(code_hash)s;

-- name: insert_grant --
insert into public.oauth_grants (client_id, user_id, organization_id, scope, expires_at)
values (%(client_id)s, %(user_id)s, %(organization_id)s, %(scope)s, now() + make_interval(secs => %(ttl)s))
returning id, expires_at;

-- name: insert_access_token --
insert into public.oauth_access_tokens (jti, client_id, grant_id, user_id, organization_id, scope, issued_at, expires_at)
values (%(jti)s, %(client_id)s, %(grant_id)s, %(user_id)s, %(organization_id)s, %(scope)s,
        to_timestamp(%(issued_at)s), to_timestamp(%(expires_at)s));

-- name: insert_refresh_token --
insert into public.oauth_refresh_tokens (token_hash, grant_id, scope) values (%(token_hash)s, %(grant_id)s, %(scope)s);

-- name: lock_refresh_token --
-- Locks the grant too: a refresh token used twice at once rotates once, and the second use is
-- seen as reuse once the first commits.
select r.token_hash, r.grant_id, r.scope, r.created_at, r.rotated_at,
       g.client_id, g.user_id, g.organization_id, g.expires_at, g.revoked_at,
       g.expires_at <= now() as expired
from public.oauth_refresh_tokens r
join public.oauth_grants g on g.id = r.grant_id
where r.token_hash = %(token_hash)s
for update of r, g;

-- name: find_refresh_token --
select r.token_hash, r.grant_id, r.scope, r.created_at, r.rotated_at,
       g.client_id, g.user_id, g.organization_id, g.expires_at, g.revoked_at,
       g.expires_at <= now() as expired
from public.oauth_refresh_tokens r
join public.oauth_grants g on g.id = r.grant_id
where r.token_hash = %(token_hash)s;

-- name: rotate_refresh_token --
update public.oauth_refresh_tokens set rotated_at = now() where token_hash = %(token_hash)s and rotated_at is null;

-- name: revoke_grant --
-- A grant and every access token it produced stop working in the same statement.
with grant_row as (
  update public.oauth_grants
  set revoked_at = coalesce(revoked_at, now()), revoked_reason = coalesce(revoked_reason, %(reason)s)
  where id = %(grant_id)s
  returning id
)
update public.oauth_access_tokens t
set revoked_at = now()
from grant_row
where t.grant_id = grant_row.id and t.revoked_at is null;

-- name: revoke_user_client_grants --
with grants as (
  update public.oauth_grants
  set revoked_at = now(), revoked_reason = %(reason)s
  where user_id = %(user_id)s and client_id = %(client_id)s and revoked_at is null
  returning id
), tokens as (
  update public.oauth_access_tokens t
  set revoked_at = now()
  where t.user_id = %(user_id)s and t.client_id = %(client_id)s and t.revoked_at is null
  returning 1
)
select (select count(*) from grants) as grants, (select count(*) from tokens) as access_tokens;

-- name: revoke_access_token --
update public.oauth_access_tokens set revoked_at = now() where jti = %(jti)s and revoked_at is null;

-- name: active_access_token --
-- The one indexed lookup every protected request makes.
select user_id, organization_id, client_id, scope
from public.oauth_access_tokens
where jti = %(jti)s and user_id = %(sub)s and revoked_at is null and expires_at > now();

-- name: find_access_token --
select jti, client_id, grant_id, user_id, organization_id, scope, issued_at, expires_at, revoked_at,
       expires_at <= now() as expired
from public.oauth_access_tokens
where jti = %(jti)s;

-- name: find_consent --
select scopes from public.oauth_consents where user_id = %(user_id)s and client_id = %(client_id)s;

-- name: record_consent --
-- Consents add up: a later consent to more scopes covers the earlier ones too.
insert into public.oauth_consents (user_id, client_id, scopes)
values (%(user_id)s, %(client_id)s, %(scopes)s::text[])
on conflict (user_id, client_id) do update
set scopes = array(
      select distinct s from unnest(public.oauth_consents.scopes || excluded.scopes) as s order by s
    ),
    updated_at = now();

-- name: list_authorizations --
-- Run as the user: RLS shows only their own consents and the clients behind them.
select c.client_id, k.name as client_name, k.organization_id, c.scopes, c.created_at, c.updated_at, k.id as cursor_id
from public.oauth_consents c
join public.oauth_clients k on k.client_id = c.client_id
where c.user_id = (select auth.uid())
  and (%(after_created_at)s::timestamptz is null
       or (c.created_at, k.id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid))
order by c.created_at desc, k.id desc
limit %(limit)s;

-- name: delete_consent --
-- Run as the user.
delete from public.oauth_consents
where user_id = (select auth.uid()) and client_id = %(client_id)s
returning client_id;

-- name: client_of_grants --
select organization_id from public.oauth_clients where client_id = %(client_id)s;

-- name: delete_expired --
-- Expired codes and access tokens, and grants past their lifetime or revoked, a day on (their
-- refresh and access tokens go with them). A used code is kept while its grant lives, to
-- detect a replay.
with codes as (
  delete from public.oauth_authorization_codes
  where expires_at < now() - interval '1 day'
    and (grant_id is null
         or grant_id in (select id from public.oauth_grants
                         where expires_at < now() - interval '1 day' or revoked_at < now() - interval '1 day'))
  returning 1
), grants as (
  delete from public.oauth_grants
  where expires_at < now() - interval '1 day' or revoked_at < now() - interval '1 day'
  returning 1
), access_tokens as (
  delete from public.oauth_access_tokens
  where expires_at < now() - interval '1 hour'
  returning 1
)
select (select count(*) from codes) as codes,
       (select count(*) from grants) as grants,
       (select count(*) from access_tokens) as access_tokens;

-- name: enter_as_token --
-- The protected API's first statement, run before any role is set (the login role, the system's
-- side, as service_role would): the token must be live, and only then does the transaction become
-- its user's, role authenticated with their claims, as db.transaction() would set them. One round
-- trip for the revocation check and the identity; no row means no identity and a rollback.
select t.user_id, t.organization_id, t.client_id, t.scope,
       set_config('role', 'authenticated', true) as role,
       set_config(
         'request.jwt.claims',
         json_build_object('sub', t.user_id, 'role', 'authenticated', 'aud', 'authenticated',
                           'client_id', t.client_id, 'scope', t.scope,
                           'client_organization_id', t.organization_id)::text,
         true
       ) as claims,
       set_config('request.jwt.claim.sub', t.user_id::text, true) as sub,
       set_config('request.client_organization_id', coalesce(t.organization_id::text, ''), true) as client_organization
from public.oauth_access_tokens t
where t.jti = %(jti)s and t.user_id = %(sub)s and t.revoked_at is null and t.expires_at > now();
