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

-- name: delete_expired --
delete from public.password_reset_tokens where expires_at < now() - interval '1 day';
