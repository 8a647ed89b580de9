-- Outbound webhooks: subscriptions, the transactional outbox of events, deliveries claimed by the
-- engine with a lease, and the log of every attempt.

create table public.webhook_subscriptions (
  id uuid not null default gen_random_uuid(),
  organization_id uuid not null,
  target_url text not null,
  description text not null default '',
  event_types text[] not null,
  active boolean not null default true,
  secret_encrypted bytea not null,
  previous_secret_encrypted bytea,
  previous_secret_expires_at timestamptz,
  failing_since timestamptz,
  disabled_reason text,
  disabled_at timestamptz,
  created_by uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint webhook_subscriptions_pkey primary key (id),
  constraint webhook_subscriptions_id_organization_id_key unique (id, organization_id),
  constraint webhook_subscriptions_target_url_length check (length(target_url) between 8 and 2048),
  constraint webhook_subscriptions_event_types_nonempty check (cardinality(event_types) between 1 and 100),
  constraint webhook_subscriptions_description_length check (length(description) <= 500),
  constraint webhook_subscriptions_organization_id_fkey foreign key (organization_id) references public.organizations (id) on delete cascade,
  constraint webhook_subscriptions_created_by_fkey foreign key (created_by) references public.profiles (id) on delete set null
);
create index webhook_subscriptions_organization_id_idx on public.webhook_subscriptions (organization_id) where active;
create index webhook_subscriptions_org_created_at_idx on public.webhook_subscriptions (organization_id, created_at desc);
comment on table public.webhook_subscriptions is 'A partner endpoint receiving an organization''s events; signing secrets are AES-GCM encrypted.';

create table public.webhook_events (
  id uuid not null default gen_random_uuid(),
  organization_id uuid not null,
  type text not null,
  payload jsonb not null,
  created_at timestamptz not null default now(),
  constraint webhook_events_pkey primary key (id),
  constraint webhook_events_type_format check (type ~ '^[a-z0-9_]+(\.[a-z0-9_]+)+$' and length(type) <= 128),
  constraint webhook_events_organization_id_fkey foreign key (organization_id) references public.organizations (id) on delete cascade
);
create index webhook_events_organization_id_created_at_idx on public.webhook_events (organization_id, created_at desc);
create index webhook_events_created_at_idx on public.webhook_events (created_at);
comment on table public.webhook_events is 'The outbox: every event emitted, written in the same transaction as the change it describes.';

create table public.webhook_deliveries (
  id uuid not null default gen_random_uuid(),
  event_id uuid not null,
  subscription_id uuid not null,
  organization_id uuid not null,
  event_type text not null,
  status text not null default 'pending',
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  lease_expires_at timestamptz,
  leased_by text,
  last_status_code integer,
  last_error text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  delivered_at timestamptz,
  constraint webhook_deliveries_pkey primary key (id),
  constraint webhook_deliveries_status_check check (status in ('pending', 'delivering', 'retrying', 'delivered', 'dead')),
  constraint webhook_deliveries_attempts_nonnegative check (attempts >= 0),
  constraint webhook_deliveries_event_id_fkey foreign key (event_id) references public.webhook_events (id) on delete cascade,
  constraint webhook_deliveries_subscription_fkey foreign key (subscription_id, organization_id) references public.webhook_subscriptions (id, organization_id) on delete cascade
);
-- The engine's claim reads only these two partial indexes.
create index webhook_deliveries_due_idx on public.webhook_deliveries (next_attempt_at) where status in ('pending', 'retrying');
create index webhook_deliveries_leased_idx on public.webhook_deliveries (lease_expires_at) where status = 'delivering';
create index webhook_deliveries_subscription_id_idx on public.webhook_deliveries (subscription_id, created_at desc);
create index webhook_deliveries_organization_id_idx on public.webhook_deliveries (organization_id, created_at desc);
create index webhook_deliveries_event_id_idx on public.webhook_deliveries (event_id);
comment on table public.webhook_deliveries is 'One event to one subscription; its id is the webhook-id header, stable across retries.';

create table public.webhook_delivery_attempts (
  id bigint generated always as identity,
  delivery_id uuid not null,
  organization_id uuid not null,
  attempt integer not null,
  started_at timestamptz not null,
  duration_ms integer not null,
  status_code integer,
  error text,
  response_body text,
  constraint webhook_delivery_attempts_pkey primary key (id),
  constraint webhook_delivery_attempts_response_body_length check (length(response_body) <= 4096),
  constraint webhook_delivery_attempts_delivery_id_fkey foreign key (delivery_id) references public.webhook_deliveries (id) on delete cascade
);
create index webhook_delivery_attempts_delivery_id_idx on public.webhook_delivery_attempts (delivery_id, attempt);
create index webhook_delivery_attempts_organization_id_idx on public.webhook_delivery_attempts (organization_id);
comment on table public.webhook_delivery_attempts is 'Every HTTP attempt of a delivery: status, duration, error and the first 4 KiB of the answer.';

revoke all on public.webhook_subscriptions, public.webhook_events, public.webhook_deliveries,
  public.webhook_delivery_attempts from public, anon, authenticated;
grant all on public.webhook_subscriptions, public.webhook_events, public.webhook_deliveries,
  public.webhook_delivery_attempts to service_role;

-- Org admins manage subscriptions; the encrypted secrets are never readable by a user role.
grant select (id, organization_id, target_url, description, event_types, active, previous_secret_expires_at,
  failing_since, disabled_reason, disabled_at, created_by, created_at, updated_at)
  on public.webhook_subscriptions to authenticated;
grant insert (id, organization_id, target_url, description, event_types, active, secret_encrypted, created_by)
  on public.webhook_subscriptions to authenticated;
grant update (target_url, description, event_types, active, secret_encrypted, previous_secret_encrypted,
  previous_secret_expires_at, failing_since, disabled_reason, disabled_at, updated_at)
  on public.webhook_subscriptions to authenticated;
grant delete on public.webhook_subscriptions to authenticated;
-- Events and deliveries are written by the system (emit_event switches to service_role); admins
-- read them and may reset a delivery for redelivery.
grant select on public.webhook_events, public.webhook_deliveries, public.webhook_delivery_attempts to authenticated;
grant update (status, attempts, next_attempt_at, lease_expires_at, leased_by, last_error, updated_at, delivered_at)
  on public.webhook_deliveries to authenticated;

alter table public.webhook_subscriptions enable row level security;
alter table public.webhook_events enable row level security;
alter table public.webhook_deliveries enable row level security;
alter table public.webhook_delivery_attempts enable row level security;

create policy "Org admins see their organization's webhook subscriptions"
on public.webhook_subscriptions for select to authenticated
using (private.is_org_admin(organization_id));

create policy "Org admins create webhook subscriptions"
on public.webhook_subscriptions for insert to authenticated
with check (private.is_org_admin(organization_id));

create policy "Org admins edit webhook subscriptions"
on public.webhook_subscriptions for update to authenticated
using (private.is_org_admin(organization_id)) with check (private.is_org_admin(organization_id));

create policy "Org admins delete webhook subscriptions"
on public.webhook_subscriptions for delete to authenticated
using (private.is_org_admin(organization_id));

create policy "Org admins see their organization's webhook events"
on public.webhook_events for select to authenticated
using (private.is_org_admin(organization_id));

create policy "Org admins see their organization's webhook deliveries"
on public.webhook_deliveries for select to authenticated
using (private.is_org_admin(organization_id));

create policy "Org admins reset their organization's deliveries for redelivery"
on public.webhook_deliveries for update to authenticated
using (private.is_org_admin(organization_id)) with check (private.is_org_admin(organization_id));

create policy "Org admins see their organization's delivery attempts"
on public.webhook_delivery_attempts for select to authenticated
using (private.is_org_admin(organization_id));
