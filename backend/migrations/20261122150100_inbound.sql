-- Inbound webhooks: the durable inbox every verified inbound event lands in (autograder grades,
-- Standard Webhooks, Stripe-style and hmac-hex senders), and the log of refused requests.

create table public.inbound_events (
  id uuid not null default gen_random_uuid(),
  source text not null,
  provider_event_id text,
  idempotency_key text,
  type text not null,
  status text not null default 'pending',
  attempts integer not null default 0,
  error text,
  outcome text,
  organization_id uuid,
  subject_id uuid,
  sent_at timestamptz,
  raw_body text not null,
  body_sha256 bytea not null,
  client_ip inet,
  user_agent text,
  received_at timestamptz not null default now(),
  next_attempt_at timestamptz not null default now(),
  lease_expires_at timestamptz,
  leased_by text,
  processed_at timestamptz,
  processing_ms integer,
  constraint inbound_events_pkey primary key (id),
  constraint inbound_events_source_provider_event_id_key unique (source, provider_event_id),
  constraint inbound_events_source_idempotency_key_key unique (source, idempotency_key),
  constraint inbound_events_status_check
    check (status in ('pending', 'processing', 'processed', 'failed', 'dead', 'ignored')),
  constraint inbound_events_source_format check (source ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
  constraint inbound_events_type_length check (length(type) between 1 and 200),
  constraint inbound_events_provider_event_id_length check (length(provider_event_id) between 1 and 255),
  constraint inbound_events_idempotency_key_length check (length(idempotency_key) between 1 and 255),
  constraint inbound_events_attempts_nonnegative check (attempts >= 0),
  constraint inbound_events_error_length check (length(error) <= 2000),
  constraint inbound_events_outcome_length check (length(outcome) <= 500),
  constraint inbound_events_user_agent_length check (length(user_agent) <= 512),
  constraint inbound_events_body_sha256_length check (octet_length(body_sha256) = 32),
  constraint inbound_events_processing_ms_nonnegative check (processing_ms >= 0),
  constraint inbound_events_organization_id_fkey foreign key (organization_id)
    references public.organizations (id) on delete cascade
);
-- The processor's claim reads only these two partial indexes.
create index inbound_events_due_idx on public.inbound_events (next_attempt_at) where status in ('pending', 'failed');
create index inbound_events_leased_idx on public.inbound_events (lease_expires_at) where status = 'processing';
-- A regrade is applied only when no newer grade of the same submission was applied before it.
create index inbound_events_subject_idx on public.inbound_events (source, subject_id, sent_at desc)
  where status = 'processed' and subject_id is not null;
create index inbound_events_organization_id_idx on public.inbound_events (organization_id, received_at desc);
create index inbound_events_received_at_idx on public.inbound_events (received_at desc);
comment on table public.inbound_events is 'The inbox: every accepted inbound webhook with its raw body, applied once by the processor; (source, provider_event_id) and (source, idempotency_key) make it idempotent.';

create table public.inbound_verification_failures (
  id uuid not null default gen_random_uuid(),
  source text not null,
  organization_id uuid,
  reason text not null,
  client_ip inet,
  user_agent text,
  created_at timestamptz not null default now(),
  constraint inbound_verification_failures_pkey primary key (id),
  constraint inbound_verification_failures_source_length check (length(source) between 1 and 64),
  constraint inbound_verification_failures_reason_length check (length(reason) between 1 and 500),
  constraint inbound_verification_failures_user_agent_length check (length(user_agent) <= 512),
  constraint inbound_verification_failures_organization_id_fkey foreign key (organization_id)
    references public.organizations (id) on delete cascade
);
create index inbound_verification_failures_created_at_idx on public.inbound_verification_failures (created_at desc);
create index inbound_verification_failures_organization_id_idx
  on public.inbound_verification_failures (organization_id, created_at desc);
comment on table public.inbound_verification_failures is 'Inbound requests refused by verification (signature, freshness, replay): source, client and reason, never secrets or signatures.';

-- Who may read inbound rows: admins of the row's organization, and platform admins, who also see
-- the rows that belong to no organization (a refused autograder request names none we can trust).
create function private.can_read_inbound(org uuid) returns boolean
language sql stable security definer set search_path = ''
as $$
  select (org is not null and private.is_org_admin(org))
      or exists (select 1 from public.profiles p where p.id = (select auth.uid()) and p.platform_admin)
$$;

revoke all on function private.can_read_inbound(uuid) from public;
grant execute on function private.can_read_inbound(uuid) to authenticated, service_role;

-- Grants: revoke everything, then grant the least each role needs. The system (service_role)
-- receives and processes; admins only read, and retries go through the system after a check.
revoke all on public.inbound_events, public.inbound_verification_failures from public, anon, authenticated;
grant all on public.inbound_events, public.inbound_verification_failures to service_role;
grant select on public.inbound_events, public.inbound_verification_failures to authenticated;

alter table public.inbound_events enable row level security;
alter table public.inbound_verification_failures enable row level security;

create policy "Org admins and platform admins read inbound events"
on public.inbound_events for select to authenticated
using (private.can_read_inbound(organization_id));

create policy "Org admins and platform admins read inbound verification failures"
on public.inbound_verification_failures for select to authenticated
using (private.can_read_inbound(organization_id));
