-- name: claim --
-- Take up to %(limit)s due deliveries (and any whose lease expired: a crashed engine's) in one
-- short transaction. SKIP LOCKED keeps concurrent engines off each other's rows; the lease
-- keeps them off rows already being sent.
with due as (
  select d.id from public.webhook_deliveries d
  where d.status in ('pending', 'retrying') and d.next_attempt_at <= now()
  order by d.next_attempt_at
  limit %(limit)s
  for update skip locked
), expired as (
  select d.id from public.webhook_deliveries d
  where d.status = 'delivering' and d.lease_expires_at < now()
  order by d.lease_expires_at
  limit %(limit)s
  for update skip locked
), claimed as (
  -- At most %(limit)s in all, a crashed engine's first: that work is the oldest.
  select id from expired
  union all
  select id from due
  limit %(limit)s
)
update public.webhook_deliveries d
set status = 'delivering',
    attempts = d.attempts + 1,
    lease_expires_at = now() + make_interval(secs => %(lease_seconds)s),
    leased_by = %(worker)s,
    updated_at = now()
from claimed c, public.webhook_subscriptions s, public.webhook_events e
where d.id = c.id and s.id = d.subscription_id and e.id = d.event_id
returning d.id, d.subscription_id, d.event_type, d.attempts, s.target_url, s.active, s.secret_encrypted,
          s.previous_secret_encrypted, s.previous_secret_expires_at, e.payload::text as body,
          e.created_at as emitted_at;

-- name: release --
-- Claims this engine took but did not send go back as they were: due at once, the attempt the
-- claim counted taken back.
update public.webhook_deliveries
set status = case when attempts > 1 then 'retrying' else 'pending' end,
    attempts = attempts - 1,
    lease_expires_at = null,
    leased_by = null,
    updated_at = now()
where id = any(%(ids)s::uuid[]) and leased_by = %(worker)s and status = 'delivering';

-- name: record_outcomes --
-- Write a batch of outcomes in one statement, only for deliveries this engine still leases
-- (a lease that expired and was reclaimed belongs to the other engine now), and log each attempt.
-- The batch comes as one JSON array of [id, status, next_attempt_at, status_code, error,
-- started_at, duration_ms, response_body]: one parameter the server parses, not eight arrays.
with outcome as (
  select (o->>0)::uuid as id, o->>1 as status, (o->>2)::timestamptz as next_attempt_at,
         (o->>3)::int as status_code, o->>4 as error, (o->>5)::timestamptz as started_at,
         (o->>6)::int as duration_ms, o->>7 as response_body
  from json_array_elements(%(outcomes)s::json) as o
), updated as (
  update public.webhook_deliveries d
  set status = o.status,
      next_attempt_at = coalesce(o.next_attempt_at, d.next_attempt_at),
      last_status_code = o.status_code,
      last_error = o.error,
      delivered_at = case when o.status = 'delivered' then now() else d.delivered_at end,
      lease_expires_at = null,
      leased_by = null,
      updated_at = now()
  from outcome o
  where d.id = o.id and d.leased_by = %(worker)s and d.status = 'delivering'
  returning d.id, d.organization_id, d.attempts
)
insert into public.webhook_delivery_attempts
  (delivery_id, organization_id, attempt, started_at, duration_ms, status_code, error, response_body)
select u.id, u.organization_id, u.attempts, o.started_at, o.duration_ms, o.status_code, o.error, o.response_body
from updated u join outcome o on o.id = u.id
returning delivery_id;

-- name: mark_subscriptions_healthy --
update public.webhook_subscriptions set failing_since = null
where id = any(%(ids)s::uuid[]) and failing_since is not null;

-- name: mark_subscriptions_failing --
update public.webhook_subscriptions set failing_since = now()
where id = any(%(ids)s::uuid[]) and failing_since is null;

-- name: disable_subscriptions --
-- Disable for a reason: 410 Gone at once, or failing continuously for too long.
update public.webhook_subscriptions
set active = false, disabled_reason = %(reason)s, disabled_at = now(), updated_at = now()
where id = any(%(ids)s::uuid[]) and active
  and (%(failing_for_seconds)s::int is null
       or failing_since < now() - make_interval(secs => %(failing_for_seconds)s::int))
returning id, organization_id, target_url;

-- name: notify_admins_disabled --
insert into public.notifications (user_id, organization_id, type, title, body, data)
select m.user_id, m.organization_id, 'webhook_disabled',
       'A webhook endpoint was disabled',
       'Deliveries to ' || %(target_url)s || ' stopped: ' || %(reason)s || '. Fix the endpoint and re-enable it.',
       jsonb_build_object('subscription_id', %(subscription_id)s::uuid, 'reason', %(reason)s)
from public.memberships m
where m.organization_id = %(organization_id)s and m.role = 'admin';

-- name: audit_disabled --
-- The audit entry of a disabling: no request behind it, so no address, and the engine as user agent.
select private.write_audit(%(organization_id)s, 'webhook_subscription.disabled', 'webhook_subscription',
                           %(subscription_id)s::text, jsonb_build_object('reason', %(reason)s::text),
                           null, 'questbridge-delivery-engine');
