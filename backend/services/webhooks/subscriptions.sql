-- name: insert_subscription --
insert into public.webhook_subscriptions
  (id, organization_id, target_url, description, event_types, secret_encrypted, created_by)
values
  (%(id)s, %(organization_id)s, %(target_url)s, %(description)s, %(event_types)s::text[], %(secret_encrypted)s,
   %(created_by)s);

-- name: get_subscription --
select id, organization_id, target_url, description, event_types, active, disabled_reason, disabled_at,
       failing_since, previous_secret_expires_at, created_at, updated_at
from public.webhook_subscriptions
where id = %(id)s;

-- name: lock_test_sends --
-- Held until the admitting transaction ends: one organization's test sends are admitted in turn.
select pg_advisory_xact_lock(hashtextextended('questbridge.webhook-test:' || %(organization_id)s::text, 0));

-- name: unfinished_test_deliveries --
-- Reads webhook_deliveries_unfinished_tests_idx only.
select count(*) as count from public.webhook_deliveries
where organization_id = %(organization_id)s and event_type = 'webhook.test' and status in ('pending', 'delivering');

-- name: test_delivery_attempt --
-- The delivery's status and its latest attempt (nulls until an engine has recorded one).
select d.status, a.attempt, a.started_at, a.duration_ms, a.status_code, a.error, a.response_body
from public.webhook_deliveries d
left join lateral (
  select attempt, started_at, duration_ms, status_code, error, response_body
  from public.webhook_delivery_attempts
  where delivery_id = d.id
  order by started_at desc, id desc
  limit 1
) a on true
where d.id = %(id)s;

-- name: subscription_organization --
-- Run as service_role: which organization owns a subscription, so that a member is told 403
-- rather than 404. Nothing else about the row is read this way.
select organization_id from public.webhook_subscriptions where id = %(id)s;

-- name: list_subscriptions --
select id, organization_id, target_url, description, event_types, active, disabled_reason, disabled_at,
       failing_since, previous_secret_expires_at, created_at, updated_at
from public.webhook_subscriptions
where organization_id = %(organization_id)s
  and (%(after_created_at)s::timestamptz is null
       or (created_at, id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid))
order by created_at desc, id desc
limit %(limit)s;

-- name: update_subscription --
-- Re-activating clears what the engine recorded when it gave up on the endpoint.
update public.webhook_subscriptions
set target_url = coalesce(%(target_url)s, target_url),
    description = coalesce(%(description)s, description),
    event_types = coalesce(%(event_types)s::text[], event_types),
    active = coalesce(%(active)s::boolean, active),
    disabled_reason = case when %(active)s::boolean and not active then null else disabled_reason end,
    disabled_at = case when %(active)s::boolean and not active then null else disabled_at end,
    failing_since = case when %(active)s::boolean and not active then null else failing_since end,
    updated_at = now()
where id = %(id)s
returning id, organization_id, target_url, description, event_types, active, disabled_reason, disabled_at,
          failing_since, previous_secret_expires_at, created_at, updated_at;

-- name: delete_subscription --
delete from public.webhook_subscriptions where id = %(id)s returning id;

-- name: rotate_secret --
-- Run as service_role: moving the current secret into the previous slot reads secret_encrypted,
-- which no user role may select. The caller has already been authorized for this row.
update public.webhook_subscriptions
set previous_secret_encrypted = case when %(grace_seconds)s::integer > 0 then secret_encrypted end,
    previous_secret_expires_at = case when %(grace_seconds)s::integer > 0
                                      then now() + make_interval(secs => %(grace_seconds)s::integer) end,
    secret_encrypted = %(secret_encrypted)s,
    updated_at = now()
where id = %(id)s and organization_id = %(organization_id)s
returning previous_secret_expires_at;

-- name: delivery_organization --
-- Run as service_role, for the same reason as subscription_organization.
select organization_id from public.webhook_deliveries where id = %(id)s;

-- name: list_deliveries --
select id, event_id, subscription_id, organization_id, event_type, status, attempts, next_attempt_at,
       last_status_code, last_error, created_at, updated_at, delivered_at
from public.webhook_deliveries
where (%(organization_id)s::uuid is null or organization_id = %(organization_id)s::uuid)
  and (%(subscription_id)s::uuid is null or subscription_id = %(subscription_id)s::uuid)
  and (%(status)s::text is null or status = %(status)s::text)
  and (%(event_type)s::text is null or event_type = %(event_type)s::text)
  and (%(after_created_at)s::timestamptz is null
       or (created_at, id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid))
order by created_at desc, id desc
limit %(limit)s;

-- name: get_delivery --
select d.id, d.event_id, d.subscription_id, d.organization_id, d.event_type, d.status, d.attempts,
       d.next_attempt_at, d.last_status_code, d.last_error, d.created_at, d.updated_at, d.delivered_at,
       e.payload
from public.webhook_deliveries d
join public.webhook_events e on e.id = d.event_id
where d.id = %(id)s;

-- name: delivery_attempts --
-- In the order they happened: a redelivery numbers its attempts from 1 again.
select attempt, started_at, duration_ms, status_code, error, response_body
from public.webhook_delivery_attempts
where delivery_id = %(delivery_id)s
order by started_at, id;

-- name: redeliver --
-- A delivery being sent right now keeps its lease; everything else starts over with the same id.
update public.webhook_deliveries
set status = 'pending',
    attempts = 0,
    next_attempt_at = now(),
    lease_expires_at = null,
    leased_by = null,
    last_error = null,
    delivered_at = null,
    updated_at = now()
where id = %(id)s and status <> 'delivering'
returning id, status;

-- name: redeliver_dead --
update public.webhook_deliveries
set status = 'pending',
    attempts = 0,
    next_attempt_at = now(),
    lease_expires_at = null,
    leased_by = null,
    last_error = null,
    updated_at = now()
-- One subscription's, or (subscription_id null) every subscription's of the organization.
where (subscription_id = %(subscription_id)s::uuid
       or (%(subscription_id)s::uuid is null and organization_id = %(organization_id)s::uuid))
  and status = 'dead'
  and (%(since)s::timestamptz is null or created_at >= %(since)s::timestamptz)
  and (%(until)s::timestamptz is null or created_at < %(until)s::timestamptz);

-- name: notify --
select pg_notify(%(channel)s, '');
