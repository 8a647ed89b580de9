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
