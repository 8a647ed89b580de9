-- name: standing --
select coalesce((select platform_admin from public.profiles where id = (select auth.uid())), false) as platform_admin,
       exists (select 1 from public.memberships where user_id = (select auth.uid()) and role = 'admin') as org_admin;

-- name: delivery_metrics --
-- Current states of the deliveries created in the window, failed attempts in it, retries and
-- emit-to-delivered latency. RLS (or the explicit organization filter) scopes it.
with d as (
  select d.status, d.attempts, d.delivered_at, e.created_at as emitted_at
  from public.webhook_deliveries d
  join public.webhook_events e on e.id = d.event_id
  where d.created_at >= now() - make_interval(hours => %(window_hours)s)
    and (%(organization_id)s::uuid is null or d.organization_id = %(organization_id)s::uuid)
)
select
  count(*) filter (where status = 'delivered') as delivered,
  count(*) filter (where status = 'dead') as dead,
  count(*) filter (where status = 'pending') as pending,
  count(*) filter (where status = 'retrying') as retrying,
  count(*) filter (where status = 'delivering') as delivering,
  (select count(*) from public.webhook_delivery_attempts a
    where a.started_at >= now() - make_interval(hours => %(window_hours)s)
      and (%(organization_id)s::uuid is null or a.organization_id = %(organization_id)s::uuid)
      and (a.status_code is null or a.status_code not between 200 and 299)) as failed,
  coalesce(round(avg(attempts - 1) filter (where status in ('delivered', 'dead')), 3), 0)::float as avg_retry_count,
  percentile_cont(0.5) within group (order by extract(epoch from delivered_at - emitted_at) * 1000)
    filter (where status = 'delivered') as p50_latency_ms,
  percentile_cont(0.99) within group (order by extract(epoch from delivered_at - emitted_at) * 1000)
    filter (where status = 'delivered') as p99_latency_ms
from d;

-- name: delivery_timeseries --
-- Per minute: attempts and their outcomes, and emit-to-delivered latency of deliveries finished then.
with minutes as (
  select generate_series(
    date_trunc('minute', now()) - make_interval(mins => %(minutes)s - 1),
    date_trunc('minute', now()),
    interval '1 minute'
  ) as t
), attempts as (
  select date_trunc('minute', a.started_at) as t,
         count(*) filter (where a.status_code between 200 and 299) as ok,
         count(*) filter (where a.status_code is null or a.status_code not between 200 and 299) as failed
  from public.webhook_delivery_attempts a
  where a.started_at >= date_trunc('minute', now()) - make_interval(mins => %(minutes)s - 1)
    and (%(organization_id)s::uuid is null or a.organization_id = %(organization_id)s::uuid)
  group by 1
), latency as (
  select date_trunc('minute', d.delivered_at) as t,
         percentile_cont(0.5) within group (order by extract(epoch from d.delivered_at - e.created_at) * 1000) as p50,
         percentile_cont(0.99) within group (order by extract(epoch from d.delivered_at - e.created_at) * 1000) as p99
  from public.webhook_deliveries d
  join public.webhook_events e on e.id = d.event_id
  where d.status = 'delivered'
    and d.delivered_at >= date_trunc('minute', now()) - make_interval(mins => %(minutes)s - 1)
    and (%(organization_id)s::uuid is null or d.organization_id = %(organization_id)s::uuid)
  group by 1
)
select m.t,
       coalesce(a.ok, 0) as delivered,
       coalesce(a.failed, 0) as failed,
       case when coalesce(a.ok, 0) + coalesce(a.failed, 0) = 0 then null
            else round(a.ok::numeric / (a.ok + a.failed), 4)::float end as success_rate,
       l.p50 as p50_latency_ms,
       l.p99 as p99_latency_ms
from minutes m
left join attempts a on a.t = m.t
left join latency l on l.t = m.t
order by m.t;

-- name: recent_deliveries --
select d.id, d.event_id, d.subscription_id, d.organization_id, d.event_type, d.status, d.attempts,
       d.next_attempt_at, d.last_status_code, d.last_error, d.created_at, d.delivered_at
from public.webhook_deliveries d
where (%(organization_id)s::uuid is null or d.organization_id = %(organization_id)s::uuid)
  and (%(status)s::text is null or d.status = %(status)s)
  and (%(event_type)s::text is null or d.event_type = %(event_type)s)
order by d.created_at desc, d.id desc
limit 100;

-- name: audit_entries --
select a.id, a.organization_id, a.actor_id, p.email as actor_email, a.action, a.target_type, a.target_id,
       a.metadata, host(a.ip) as ip, a.user_agent, a.created_at
from public.audit_log a
left join public.profiles p on p.id = a.actor_id
where (%(organization_id)s::uuid is null
       or a.organization_id = %(organization_id)s::uuid
       -- entries of no organization about its members (their sign-ins, sign-outs, password
       -- changes), from when each joined this organization: not what RLS lets the caller read
       -- through another organization they administer
       or (a.organization_id is null and a.target_type = 'user'
           and exists (select 1 from public.memberships m
                       where m.organization_id = %(organization_id)s::uuid
                         and m.user_id::text = a.target_id and m.created_at <= a.created_at)))
  and (%(action)s::text is null or a.action = %(action)s or a.action like %(action)s || '.%%')
  and (%(after_created_at)s::timestamptz is null
       or (a.created_at, a.id) < (%(after_created_at)s::timestamptz, %(after_id)s::bigint))
order by a.created_at desc, a.id desc
limit %(limit)s;
