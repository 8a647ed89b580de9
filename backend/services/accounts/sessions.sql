-- name: insert_session --
insert into public.auth_sessions (user_id, token_hash, expires_at, ip, user_agent)
values (%(user_id)s, %(token_hash)s, now() + make_interval(secs => %(ttl)s), %(ip)s, %(user_agent)s)
returning id;

-- name: find_session --
select s.id as session_id, p.id as user_id, p.email, s.created_at as signed_in_at,
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

-- name: delete_expired --
delete from public.auth_sessions
where expires_at < now() - interval '1 day' or revoked_at < now() - interval '1 day';
