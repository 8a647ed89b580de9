-- name: key_organization --
-- Run as service_role: which organization owns a key, so that a member is told 403 rather than
-- 404. Nothing else about the row is read this way.
select organization_id from public.api_keys where key_id = %(key_id)s;

-- name: insert_key --
insert into public.api_keys
  (id, key_id, organization_id, lineage_id, name, tier, ip_allowlist, secret_hash, created_by)
values
  (%(id)s, %(key_id)s, %(organization_id)s, %(lineage_id)s, %(name)s, %(tier)s, %(ip_allowlist)s::cidr[],
   %(secret_hash)s, %(created_by)s);

-- name: get_key --
select id, key_id, organization_id, name, tier, ip_allowlist,
       case when revoked_at is not null then 'revoked'
            when expires_at <= now() then 'expired'
            when expires_at is not null then 'replaced'
            else 'active' end as status,
       last_used_at, previous_secret_expires_at, expires_at, replaced_by, revoked_at, created_by, created_at,
       updated_at
from public.api_keys
where key_id = %(key_id)s;

-- name: list_keys --
select id, key_id, organization_id, name, tier, ip_allowlist,
       case when revoked_at is not null then 'revoked'
            when expires_at <= now() then 'expired'
            when expires_at is not null then 'replaced'
            else 'active' end as status,
       last_used_at, previous_secret_expires_at, expires_at, replaced_by, revoked_at, created_by, created_at,
       updated_at
from public.api_keys
where (%(organization_id)s::uuid is null or organization_id = %(organization_id)s::uuid)
  and (%(after_created_at)s::timestamptz is null
       or (created_at, id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid))
order by created_at desc, id desc
limit %(limit)s;

-- name: update_key --
update public.api_keys
set name = coalesce(%(name)s, name),
    ip_allowlist = coalesce(%(ip_allowlist)s::cidr[], ip_allowlist),
    updated_at = now()
where key_id = %(key_id)s and revoked_at is null
returning key_id;

-- name: revoke_key --
-- The key, and the keys it replaced that are still in their grace period: revoking a key that
-- leaked must not leave its predecessor working. Revoking twice keeps the first time.
update public.api_keys
set revoked_at = now(), updated_at = now()
where revoked_at is null
  and (key_id = %(key_id)s
       or (lineage_id = (select lineage_id from public.api_keys where key_id = %(key_id)s)
           and replaced_by is not null and expires_at > now()))
returning key_id;

-- name: rotate_secret --
-- Run as service_role (it reads secret_hash). One statement: a concurrent rotation waits for the
-- row lock and then moves the secret this one wrote, so no returned secret is silently lost.
update public.api_keys
set previous_secret_hash = case when %(grace_seconds)s::integer > 0 then secret_hash end,
    previous_secret_expires_at = case when %(grace_seconds)s::integer > 0
                                      then now() + make_interval(secs => %(grace_seconds)s::integer) end,
    secret_hash = %(secret_hash)s,
    updated_at = now()
where key_id = %(key_id)s and revoked_at is null and replaced_by is null
returning now() + make_interval(secs => %(grace_seconds)s::integer) as previous_expires_at;

-- name: lock_key --
-- Run as service_role: the key to be replaced, locked until the rotation commits, so a
-- concurrent rotation of the same key sees it already replaced.
select id, organization_id, lineage_id, name, tier, ip_allowlist, revoked_at, replaced_by
from public.api_keys
where key_id = %(key_id)s
for update;

-- name: insert_replacement --
insert into public.api_keys
  (id, key_id, organization_id, lineage_id, name, tier, ip_allowlist, secret_hash, created_by)
select %(id)s, %(key_id)s, organization_id, lineage_id, name, tier, ip_allowlist, %(secret_hash)s, %(created_by)s
from public.api_keys
where id = %(old_id)s;

-- name: retire_replaced --
update public.api_keys
set replaced_by = %(replaced_by)s,
    expires_at = now() + make_interval(secs => %(grace_seconds)s::integer),
    updated_at = now()
where id = %(id)s
returning expires_at as previous_expires_at;

-- name: get_limits --
-- Visible to the organization's admins and to platform admins (RLS).
select organization_id, allowed_tiers, max_api_keys, updated_at
from public.organization_limits
where organization_id = %(organization_id)s;

-- name: lock_limits --
-- The organization's limits, locked until the transaction ends: creations of keys in one
-- organization (and changes of its limits) happen one after another, so each one's count of
-- live keys, taken by the next statement, sees every key created before it.
select organization_id, allowed_tiers, max_api_keys
from public.organization_limits
where organization_id = %(organization_id)s
for update;

-- name: live_keys --
-- What counts against max_api_keys: keys neither revoked nor replaced. A key rotated to a new key
-- id gives its place to its replacement while it finishes its grace period: a lineage counts once.
select count(*)::integer as keys
from public.api_keys
where organization_id = %(organization_id)s and revoked_at is null and replaced_by is null;

-- name: may_set_limits --
-- Platform admins, and the system itself (service_role: the CLI), set organizations' limits.
select current_user = 'service_role'
       or coalesce((select platform_admin from public.profiles where id = (select auth.uid())), false) as allowed,
       (select auth.uid()) as user_id;

-- name: set_limits --
update public.organization_limits
set allowed_tiers = coalesce(%(allowed_tiers)s::text[], allowed_tiers),
    max_api_keys = coalesce(%(max_api_keys)s::integer, max_api_keys),
    updated_by = (select auth.uid()),
    updated_at = now()
where organization_id = %(organization_id)s
returning organization_id, allowed_tiers, max_api_keys, updated_at;

-- name: key_tier_allowed --
-- Run as service_role: whether a key's tier is still one its organization may issue.
select k.tier, l.allowed_tiers, k.tier = any(l.allowed_tiers) as allowed
from public.api_keys k
join public.organization_limits l on l.organization_id = k.organization_id
where k.key_id = %(key_id)s;
