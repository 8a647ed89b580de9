-- name: event_organization --
-- Run as service_role: which organization an event belongs to, so that a member is told 403
-- rather than 404. Nothing else about the row is read this way.
select organization_id from public.inbound_events where id = %(id)s;

-- name: get_event --
select id, source, type, status, attempts, error, outcome, organization_id, provider_event_id, subject_id,
       sent_at, received_at, processed_at, processing_ms, next_attempt_at, host(client_ip) as client_ip,
       user_agent, encode(body_sha256, 'hex') as body_sha256, raw_body
from public.inbound_events
where id = %(id)s;

-- name: list_events --
select id, source, type, status, attempts, error, outcome, organization_id, provider_event_id, subject_id,
       sent_at, received_at, processed_at, processing_ms, next_attempt_at
from public.inbound_events
where (%(organization_id)s::uuid is null or organization_id = %(organization_id)s::uuid)
  and (%(source)s::text is null or source = %(source)s::text)
  and (%(status)s::text is null or status = %(status)s::text)
  and (%(after_created_at)s::timestamptz is null
       or (received_at, id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid))
order by received_at desc, id desc
limit %(limit)s;

-- name: list_failures --
select id, source, organization_id, reason, host(client_ip) as client_ip, user_agent, created_at
from public.inbound_verification_failures
where (%(organization_id)s::uuid is null or organization_id = %(organization_id)s::uuid)
  and (%(source)s::text is null or source = %(source)s::text)
  and (%(after_created_at)s::timestamptz is null
       or (created_at, id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid))
order by created_at desc, id desc
limit %(limit)s;

-- name: retry_dead --
update public.inbound_events
set status = 'pending', attempts = 0, error = null, next_attempt_at = now(),
    lease_expires_at = null, leased_by = null, processing_ms = null
where id = %(id)s and status = 'dead'
returning id;
