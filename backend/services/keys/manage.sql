-- name: find_key --
-- Run as service_role on every external request: the key, whether each of its secrets is still
-- valid, and today's standing of its lineage (for the rate-limit headers of a refusal), in one read.
select k.id, k.key_id, k.lineage_id, k.organization_id, k.tier, k.ip_allowlist,
       k.secret_hash, k.previous_secret_hash,
       coalesce(k.previous_secret_expires_at > now(), false) as previous_secret_valid,
       k.revoked_at is not null as revoked,
       coalesce(k.expires_at <= now(), false) as expired,
       k.last_used_at is null or k.last_used_at < now() - interval '1 minute' as touch_due,
       coalesce(u.requests, 0) as day_requests,
       coalesce(u.burst_level, 0) as burst_level,
       coalesce(greatest(0, extract(epoch from now() - u.burst_at)::float8), 0) as burst_seconds_ago,
       extract(epoch from now())::float8 as now_epoch
from public.api_keys k
left join public.api_key_usage u on u.lineage_id = k.lineage_id and u.day = (now() at time zone 'utc')::date
where k.key_id = %(key_id)s;

-- name: touch_last_used --
-- At most one write a minute per key, however many requests and processes use it: the condition
-- is re-checked on the locked row, so concurrent requests that all saw it due write once.
update public.api_keys
set last_used_at = now()
where id = %(id)s and (last_used_at is null or last_used_at < now() - interval '1 minute');

-- name: hit --
-- One statement per request decides both windows and counts the request: admitted requests in
-- `requests`, refused ones in `rate_limited`. The conflict path holds the row lock, so concurrent
-- requests never over-admit or lose a count. The client address is remembered for the day's
-- unique consumers in the same statement.
-- The burst is a GCRA bucket (continuous-state leaky bucket): burst_level drains at per_minute/60
-- a second since burst_at, and a request is admitted while adding 1 keeps it within per_minute.
-- No clock minute is involved, so no edge admits the burst twice. "Now" is read after the row
-- lock (clock_timestamp() in SET): decisions follow the lock order, and a transaction that began
-- earlier never drains the bucket by time that a later one has already counted.
-- `handover`: the first request of a UTC day closes the previous day's row and takes its level
-- over (a burst in progress at midnight goes on counting, drained by the time since); a request
-- still dated the previous day then finds its row closed and is refused. Later requests of the
-- day find that row closed already: one index probe, no write.
-- The row lock lasts until COMMIT; with a synchronous commit that includes a WAL flush, which
-- would serialize a busy key's requests behind one fsync each. This transaction's commit is made
-- asynchronous instead (set_config in RETURNING, before COMMIT reads it). A request that goes on
-- to write (a pushed event) flushes the count with its own commit; only a database crash can
-- forget the last fraction of a second of counts of requests that wrote nothing else.
with handover as (
  update public.api_key_usage p
  set closed = true
  where p.lineage_id = %(lineage_id)s
    and p.day = (now() at time zone 'utc')::date - 1
    and not p.closed
  returning p.burst_level, p.burst_at
),
seen as (
  insert into public.api_key_usage_clients (lineage_id, day, ip, organization_id)
  select %(lineage_id)s, (now() at time zone 'utc')::date, %(ip)s::inet, %(organization_id)s
  where %(ip)s::inet is not null
  on conflict do nothing
),
fresh as (
  select c.at, l.level, l.level + 1 <= %(per_minute)s::float8 as ok
  from (select clock_timestamp() as at) c
  left join handover h on true
  cross join lateral (
    select coalesce(greatest(0, h.burst_level - greatest(0, extract(epoch from c.at - h.burst_at)::float8)
                                                * %(per_minute)s::float8 / 60), 0) as level
  ) l
)
insert into public.api_key_usage as u
  (lineage_id, day, organization_id, requests, rate_limited, burst_level, burst_at, admitted)
select %(lineage_id)s, (now() at time zone 'utc')::date, %(organization_id)s,
       f.ok::integer, (not f.ok)::integer, f.level + f.ok::integer, f.at, f.ok
from fresh f
on conflict (lineage_id, day) do update
set (requests, rate_limited, burst_level, burst_at, admitted) = (
  select u.requests + d.ok::integer,
         u.rate_limited + (not d.ok)::integer,
         d.level + d.ok::integer,
         d.at,
         d.ok
  from (select greatest(u.burst_at, clock_timestamp()) as at) c,
       lateral (select c.at,
                       greatest(0, u.burst_level - extract(epoch from c.at - u.burst_at)::float8
                                                   * %(per_minute)s::float8 / 60) as level) l,
       lateral (select l.at, l.level,
                       not u.closed and u.requests < %(per_day)s and l.level + 1 <= %(per_minute)s::float8 as ok) d
)
returning u.requests as day_requests, u.burst_level, u.admitted, extract(epoch from u.burst_at)::float8 as now_epoch,
          set_config('synchronous_commit', 'off', true) as synchronous_commit;

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

-- name: insert_pushed_event --
insert into public.api_key_events (event_id, organization_id, api_key_id, client_ip)
values (%(event_id)s, %(organization_id)s, %(api_key_id)s, %(client_ip)s::inet);

-- name: get_pushed_event --
select e.id as event_id, e.type as event_type, e.payload -> 'data' as data, e.organization_id,
       k.key_id as pushed_by, e.created_at,
       coalesce((select jsonb_object_agg(s.status, s.n)
                 from (select d.status, count(*) as n
                       from public.webhook_deliveries d
                       where d.event_id = e.id
                       group by d.status) s), '{}'::jsonb) as deliveries
from public.api_key_events p
join public.webhook_events e on e.id = p.event_id
join public.api_keys k on k.id = p.api_key_id
where p.event_id = %(event_id)s and p.organization_id = %(organization_id)s;

-- name: usage_by_tier --
-- Today's (UTC) figures per tier for one organization, or for every organization the caller's
-- role can see when organization_id is null. A key rotated to a new key id counts once.
with tiers(tier, position) as (values ('starter', 1), ('pro', 2), ('enterprise', 3)),
live as (
  select tier, count(distinct lineage_id) as keys
  from public.api_keys
  where revoked_at is null and (expires_at is null or expires_at > now())
    and (%(organization_id)s::uuid is null or organization_id = %(organization_id)s::uuid)
  group by tier
),
used as (
  select k.tier, sum(u.requests) as requests, sum(u.rate_limited) as rate_limited
  from public.api_key_usage u
  join public.api_keys k on k.id = u.lineage_id
  where u.day = (now() at time zone 'utc')::date
    and (%(organization_id)s::uuid is null or u.organization_id = %(organization_id)s::uuid)
  group by k.tier
),
consumers as (
  select k.tier, count(distinct c.ip) as consumers
  from public.api_key_usage_clients c
  join public.api_keys k on k.id = c.lineage_id
  where c.day = (now() at time zone 'utc')::date
    and (%(organization_id)s::uuid is null or c.organization_id = %(organization_id)s::uuid)
  group by k.tier
)
select t.tier,
       coalesce(live.keys, 0)::integer as keys,
       coalesce(used.requests, 0)::bigint as requests_today,
       coalesce(consumers.consumers, 0)::integer as unique_consumers,
       coalesce(used.rate_limited, 0)::bigint as rate_limit_hits
from tiers t
left join live on live.tier = t.tier
left join used on used.tier = t.tier
left join consumers on consumers.tier = t.tier
order by t.position;

-- name: prune_usage --
with clients as (
  delete from public.api_key_usage_clients where day < (now() at time zone 'utc')::date - %(keep_days)s::integer
)
delete from public.api_key_usage where day < (now() at time zone 'utc')::date - %(keep_days)s::integer;

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
