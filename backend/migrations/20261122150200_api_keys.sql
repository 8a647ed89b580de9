-- API keys of the external API: per-organization keys with tiers, IP allowlists and rotation,
-- their per-day usage (the rate-limit windows live in the same row) and the events they pushed.

create table public.api_keys (
  id uuid not null,
  key_id text not null,
  organization_id uuid not null,
  lineage_id uuid not null,
  name text not null,
  tier text not null,
  ip_allowlist cidr[] not null default '{}',
  secret_hash bytea not null,
  previous_secret_hash bytea,
  previous_secret_expires_at timestamptz,
  expires_at timestamptz,
  replaced_by text,
  revoked_at timestamptz,
  last_used_at timestamptz,
  created_by uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint api_keys_pkey primary key (id),
  constraint api_keys_key_id_key unique (key_id),
  constraint api_keys_key_id_format check (key_id ~ '^[0-9a-f]{16}$'),
  constraint api_keys_name_length check (length(name) between 1 and 200),
  constraint api_keys_tier_check check (tier in ('starter', 'pro', 'enterprise')),
  constraint api_keys_ip_allowlist_length check (cardinality(ip_allowlist) <= 100),
  constraint api_keys_secret_hash_length check (length(secret_hash) = 32),
  constraint api_keys_previous_secret_pair check ((previous_secret_hash is null) = (previous_secret_expires_at is null)),
  constraint api_keys_replaced_by_pair check ((replaced_by is null) = (expires_at is null)),
  constraint api_keys_organization_id_fkey foreign key (organization_id) references public.organizations (id) on delete cascade,
  constraint api_keys_lineage_id_fkey foreign key (lineage_id) references public.api_keys (id) on delete cascade,
  constraint api_keys_created_by_fkey foreign key (created_by) references public.profiles (id) on delete set null
);
create index api_keys_org_created_at_idx on public.api_keys (organization_id, created_at desc, id desc);
create index api_keys_lineage_id_idx on public.api_keys (lineage_id);
comment on table public.api_keys is 'Keys of the external API (qbk_<key_id>_<secret>_<crc>); only SHA-256 hashes of the keys are stored. A key rotated to a new key id keeps the lineage of the one it replaced.';
comment on column public.api_keys.lineage_id is 'The key this one descends from by rotation (itself for a new key): rate-limit windows and usage are kept per lineage, so rotating never resets a quota.';

create table public.api_key_usage (
  lineage_id uuid not null,
  day date not null,
  organization_id uuid not null,
  requests integer not null default 0,
  rate_limited integer not null default 0,
  minute_start timestamptz not null,
  minute_requests integer not null default 0,
  admitted boolean not null default true,
  constraint api_key_usage_pkey primary key (lineage_id, day),
  constraint api_key_usage_counts_nonnegative check (requests >= 0 and rate_limited >= 0 and minute_requests >= 0),
  constraint api_key_usage_lineage_id_fkey foreign key (lineage_id) references public.api_keys (id) on delete cascade
);
create index api_key_usage_organization_id_day_idx on public.api_key_usage (organization_id, day);
create index api_key_usage_day_idx on public.api_key_usage (day);
comment on table public.api_key_usage is 'Per key lineage and UTC day: admitted requests, rate-limited requests and the current minute''s burst window, moved by one atomic upsert per request.';

create table public.api_key_usage_clients (
  lineage_id uuid not null,
  day date not null,
  ip inet not null,
  organization_id uuid not null,
  constraint api_key_usage_clients_pkey primary key (lineage_id, day, ip),
  constraint api_key_usage_clients_lineage_id_fkey foreign key (lineage_id) references public.api_keys (id) on delete cascade
);
create index api_key_usage_clients_organization_id_day_idx on public.api_key_usage_clients (organization_id, day);
create index api_key_usage_clients_day_idx on public.api_key_usage_clients (day);
comment on table public.api_key_usage_clients is 'The distinct client addresses that used a key lineage on a UTC day (unique consumers).';

create table public.api_key_events (
  event_id uuid not null,
  organization_id uuid not null,
  api_key_id uuid not null,
  client_ip inet,
  created_at timestamptz not null default now(),
  constraint api_key_events_pkey primary key (event_id),
  constraint api_key_events_event_id_fkey foreign key (event_id) references public.webhook_events (id) on delete cascade,
  constraint api_key_events_api_key_id_fkey foreign key (api_key_id) references public.api_keys (id) on delete cascade
);
create index api_key_events_organization_id_idx on public.api_key_events (organization_id, created_at desc);
create index api_key_events_api_key_id_idx on public.api_key_events (api_key_id);
comment on table public.api_key_events is 'Which key pushed which event through POST /v1/external/events (the event itself is in webhook_events).';

revoke all on public.api_keys, public.api_key_usage, public.api_key_usage_clients, public.api_key_events
  from public, anon, authenticated;
grant all on public.api_keys, public.api_key_usage, public.api_key_usage_clients, public.api_key_events
  to service_role;

-- Org admins create, list, rename, re-scope and revoke keys; key hashes are never readable by a
-- user role, and rotation and verification run as service_role.
grant select (id, key_id, organization_id, lineage_id, name, tier, ip_allowlist, previous_secret_expires_at,
  expires_at, replaced_by, revoked_at, last_used_at, created_by, created_at, updated_at)
  on public.api_keys to authenticated;
grant insert (id, key_id, organization_id, lineage_id, name, tier, ip_allowlist, secret_hash, created_by)
  on public.api_keys to authenticated;
grant update (name, ip_allowlist, revoked_at, updated_at) on public.api_keys to authenticated;
-- Usage and pushed events are written by the system; admins read their organization's.
grant select on public.api_key_usage, public.api_key_usage_clients, public.api_key_events to authenticated;

alter table public.api_keys enable row level security;
alter table public.api_key_usage enable row level security;
alter table public.api_key_usage_clients enable row level security;
alter table public.api_key_events enable row level security;

create policy "Org admins see their organization's API keys"
on public.api_keys for select to authenticated
using (private.is_org_admin(organization_id));

create policy "Org admins create API keys for their organization"
on public.api_keys for insert to authenticated
with check (private.is_org_admin(organization_id) and lineage_id = id and created_by = (select auth.uid()));

create policy "Org admins edit and revoke their organization's API keys"
on public.api_keys for update to authenticated
using (private.is_org_admin(organization_id)) with check (private.is_org_admin(organization_id));

create policy "Org admins see their organization's API key usage"
on public.api_key_usage for select to authenticated
using (private.is_org_admin(organization_id));

create policy "Org admins see their organization's API key clients"
on public.api_key_usage_clients for select to authenticated
using (private.is_org_admin(organization_id));

create policy "Org admins see events their organization's keys pushed"
on public.api_key_events for select to authenticated
using (private.is_org_admin(organization_id));
