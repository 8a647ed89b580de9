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
