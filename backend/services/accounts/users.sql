-- name: insert_auth_user --
insert into auth.users (id, email) values (%(id)s, %(email)s);

-- name: insert_profile --
-- The auth.users trigger has already created the profile; this sets what we know locally.
insert into public.profiles (id, email, display_name) values (%(id)s, %(email)s, %(display_name)s)
on conflict (id) do update set email = excluded.email, display_name = excluded.display_name;

-- name: insert_credentials --
insert into public.local_credentials (user_id, password_hash, must_change_password, password_changed_at)
values (%(user_id)s, %(password_hash)s, %(must_change_password)s,
        case when %(password_hash)s::text is null then null else now() end);

-- name: find_by_email --
select p.id, p.email, c.password_hash, coalesce(c.must_change_password, false) as must_change_password
from public.profiles p
left join public.local_credentials c on c.user_id = p.id
where lower(p.email) = lower(%(email)s);

-- name: find_by_id --
select p.id, p.email, c.password_hash, coalesce(c.must_change_password, false) as must_change_password
from public.profiles p
left join public.local_credentials c on c.user_id = p.id
where p.id = %(id)s;

-- name: update_password_hash --
insert into public.local_credentials (user_id, password_hash, must_change_password, password_changed_at)
values (%(user_id)s, %(password_hash)s, %(must_change_password)s, now())
on conflict (user_id) do update
  set password_hash = excluded.password_hash,
      must_change_password = excluded.must_change_password,
      password_changed_at = now();

-- name: rehash_password --
update public.local_credentials set password_hash = %(password_hash)s where user_id = %(user_id)s;

-- name: insert_session --
insert into public.auth_sessions (user_id, token_hash, expires_at, ip, user_agent)
values (%(user_id)s, %(token_hash)s, now() + make_interval(secs => %(ttl)s), %(ip)s, %(user_agent)s)
returning id;

-- name: find_session --
select s.id as session_id, p.id as user_id, p.email,
       coalesce(c.must_change_password, false) as must_change_password
from public.auth_sessions s
join public.profiles p on p.id = s.user_id
left join public.local_credentials c on c.user_id = p.id
where s.token_hash = %(token_hash)s and s.revoked_at is null and s.expires_at > now();

-- name: revoke_session --
update public.auth_sessions set revoked_at = now()
where token_hash = %(token_hash)s and revoked_at is null
returning user_id;

-- name: revoke_session_by_id --
update public.auth_sessions set revoked_at = now()
where id = %(id)s and revoked_at is null
returning user_id;

-- name: session_alive --
select exists (
  select 1 from public.auth_sessions where id = %(id)s and revoked_at is null and expires_at > now()
) as alive;

-- name: revoke_user_sessions --
update public.auth_sessions set revoked_at = now()
where user_id = %(user_id)s and revoked_at is null;

-- name: insert_reset_token --
insert into public.password_reset_tokens (user_id, token_hash, requested_by, organization_id, expires_at)
values (%(user_id)s, %(token_hash)s, %(requested_by)s, %(organization_id)s, now() + make_interval(secs => %(ttl)s))
returning id;

-- name: consume_reset_token --
-- Single use even under concurrency: only one UPDATE can move used_at from null.
update public.password_reset_tokens t set used_at = now()
from public.profiles p
where t.token_hash = %(token_hash)s and t.used_at is null and t.expires_at > now() and p.id = t.user_id
returning t.user_id, p.email;

-- name: invalidate_organization_reset_tokens --
update public.password_reset_tokens set used_at = now()
where user_id = %(user_id)s and organization_id = %(organization_id)s and used_at is null;

-- name: invalidate_reset_tokens --
update public.password_reset_tokens set used_at = now()
where user_id = %(user_id)s and used_at is null;

-- name: my_organizations --
select o.id, o.name, m.role
from public.memberships m
join public.organizations o on o.id = m.organization_id
where m.user_id = (select auth.uid())
order by o.name, o.id;

-- name: my_profile --
select id, email, display_name, platform_admin from public.profiles where id = (select auth.uid());

-- name: delete_expired --
with sessions as (
  delete from public.auth_sessions
  where expires_at < now() - interval '1 day' or revoked_at < now() - interval '1 day'
  returning 1
), resets as (
  delete from public.password_reset_tokens
  where expires_at < now() - interval '1 day'
  returning 1
)
select (select count(*) from sessions) as sessions, (select count(*) from resets) as reset_tokens;
