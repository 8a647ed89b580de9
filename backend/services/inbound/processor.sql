-- name: claim --
-- Take up to %(limit)s due events (and any whose lease expired: a crashed processor's) in one short
-- transaction. SKIP LOCKED keeps concurrent processors off each other's rows; %(attempted)s are
-- the events this pass already tried, so one pass never hammers a failing event. An expired lease
-- on an event whose attempts are spent means every attempt ended with its processor gone (an event
-- that crashes the process, say): it is dead, instead of being taken over forever.
with stuck as (
  select e.id from public.inbound_events e
  where e.status = 'processing' and e.lease_expires_at < now() and e.attempts >= %(max_attempts)s
  for update skip locked
), exhausted as (
  update public.inbound_events e
  set status = 'dead',
      error = coalesce(e.error, 'the processor stopped during every attempt (its lease expired)'),
      lease_expires_at = null,
      leased_by = null
  from stuck s
  where e.id = s.id
), due as (
  select e.id from public.inbound_events e
  where e.status in ('pending', 'failed') and e.next_attempt_at <= now() and e.id <> all(%(attempted)s::uuid[])
  order by e.next_attempt_at
  limit %(limit)s
  for update skip locked
), expired as (
  select e.id from public.inbound_events e
  where e.status = 'processing' and e.lease_expires_at < now() and e.attempts < %(max_attempts)s
  order by e.lease_expires_at
  limit %(limit)s
  for update skip locked
), claimed as (
  select id from due union select id from expired
)
update public.inbound_events e
set status = 'processing',
    attempts = e.attempts + 1,
    lease_expires_at = now() + make_interval(secs => %(lease_seconds)s),
    leased_by = %(worker)s
from claimed c
where e.id = c.id
returning e.id, e.source, e.type, e.attempts, e.organization_id, e.subject_id, e.sent_at, e.raw_body,
          encode(e.body_sha256, 'hex') as body_sha256, e.idempotency_key, e.received_at,
          host(e.client_ip) as client_ip, e.user_agent;

-- name: lock_claimed --
-- The first statement of the apply transaction: the row stays locked until the effects commit, and
-- a processor whose lease was taken over finds nothing here and leaves the event alone.
select id from public.inbound_events
where id = %(id)s and status = 'processing' and leased_by = %(worker)s
for update;

-- name: mark_done --
update public.inbound_events
set status = %(status)s,
    outcome = left(%(outcome)s, 500),
    error = null,
    processed_at = case when %(status)s = 'processed' then now() end,
    processing_ms = %(processing_ms)s,
    lease_expires_at = null,
    leased_by = null
where id = %(id)s;

-- name: mark_failed --
-- After a rolled-back attempt: retry later with backoff, or give up once the attempts are spent.
update public.inbound_events
set status = case when attempts >= %(max_attempts)s then 'dead' else 'failed' end,
    error = left(%(error)s, 2000),
    next_attempt_at = now() + make_interval(secs => %(delay_seconds)s),
    processing_ms = %(processing_ms)s,
    lease_expires_at = null,
    leased_by = null
where id = %(id)s and status = 'processing' and leased_by = %(worker)s
returning status, attempts;

-- name: notify --
-- Its own transaction, committed without waiting for the disk: a lost wake-up is made up by the poll.
select pg_notify('questbridge_inbox', ''), set_config('synchronous_commit', 'off', true);
