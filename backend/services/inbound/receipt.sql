-- name: insert_event --
-- A repeat of (source, provider_event_id) or (source, idempotency_key) inserts nothing and returns
-- nothing: the unique constraints, not a cache, make receipt idempotent across every process.
insert into public.inbound_events
  (source, provider_event_id, idempotency_key, type, status, organization_id, subject_id, sent_at,
   raw_body, body_sha256, client_ip, user_agent, outcome)
values
  (%(source)s, %(provider_event_id)s, %(idempotency_key)s, %(type)s, %(status)s, %(organization_id)s,
   %(subject_id)s, to_timestamp(%(sent_at)s::double precision), %(raw_body)s, %(body_sha256)s, %(client_ip)s,
   left(%(user_agent)s, 512), %(outcome)s)
on conflict do nothing
returning id;

-- name: existing_event --
select id, status from public.inbound_events
where source = %(source)s
  and (provider_event_id = %(provider_event_id)s or idempotency_key = %(idempotency_key)s)
limit 1;

-- name: insert_failure --
insert into public.inbound_verification_failures (source, organization_id, reason, client_ip, user_agent)
values (%(source)s, %(organization_id)s, left(%(reason)s, 500), %(client_ip)s, left(%(user_agent)s, 512))
returning id;
