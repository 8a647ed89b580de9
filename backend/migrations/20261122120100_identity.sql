-- Local identity beside auth.users: profiles, password credentials, browser sessions, reset
-- tokens, login throttling counters and the audit log.

create table public.profiles (
  id uuid not null,
  email text not null,
  display_name text,
  platform_admin boolean not null default false,
  created_at timestamptz not null default now(),
  constraint profiles_pkey primary key (id),
  constraint profiles_id_fkey foreign key (id) references auth.users (id) on delete cascade,
  constraint profiles_email_format check (email ~ '^[^@\s]+@[^@\s]+$' and length(email) <= 254),
  constraint profiles_display_name_length check (length(display_name) <= 100)
);
create unique index profiles_email_key on public.profiles (lower(email));
comment on table public.profiles is 'One row per user: email and display name; readable by the user and people sharing an organization.';

create table public.local_credentials (
  user_id uuid not null,
  password_hash text,
  must_change_password boolean not null default false,
  password_changed_at timestamptz,
  constraint local_credentials_pkey primary key (user_id),
  constraint local_credentials_user_id_fkey foreign key (user_id) references public.profiles (id) on delete cascade
);
comment on table public.local_credentials is 'Argon2id password hashes of local accounts; only the system (service_role) reads them.';

create table public.auth_sessions (
  id uuid not null default gen_random_uuid(),
  user_id uuid not null,
  token_hash bytea not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  revoked_at timestamptz,
  ip inet,
  user_agent text,
  constraint auth_sessions_pkey primary key (id),
  constraint auth_sessions_token_hash_key unique (token_hash),
  constraint auth_sessions_user_id_fkey foreign key (user_id) references public.profiles (id) on delete cascade
);
create index auth_sessions_user_id_idx on public.auth_sessions (user_id);
create index auth_sessions_expires_at_idx on public.auth_sessions (expires_at);
comment on table public.auth_sessions is 'Browser sessions behind the HttpOnly cookie; the cookie value is stored only as a SHA-256 hash.';

create table public.password_reset_tokens (
  id uuid not null default gen_random_uuid(),
  user_id uuid not null,
  token_hash bytea not null,
  requested_by uuid,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  used_at timestamptz,
  constraint password_reset_tokens_pkey primary key (id),
  constraint password_reset_tokens_token_hash_key unique (token_hash),
  constraint password_reset_tokens_user_id_fkey foreign key (user_id) references public.profiles (id) on delete cascade,
  constraint password_reset_tokens_requested_by_fkey foreign key (requested_by) references public.profiles (id) on delete set null
);
create index password_reset_tokens_user_id_idx on public.password_reset_tokens (user_id);
create index password_reset_tokens_expires_at_idx on public.password_reset_tokens (expires_at);
comment on table public.password_reset_tokens is 'Single-use password reset tokens (hashed), valid one hour.';

create table public.rate_limit_counters (
  bucket text not null,
  window_start timestamptz not null,
  count integer not null default 0,
  constraint rate_limit_counters_pkey primary key (bucket, window_start),
  constraint rate_limit_counters_count_nonnegative check (count >= 0)
);
create index rate_limit_counters_window_start_idx on public.rate_limit_counters (window_start);
comment on table public.rate_limit_counters is 'Fixed-window counters, one row per bucket and window, moved by one atomic upsert.';

create table public.audit_log (
  id bigint generated always as identity,
  organization_id uuid,
  actor_id uuid,
  action text not null,
  target_type text,
  target_id text,
  ip inet,
  user_agent text,
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  constraint audit_log_pkey primary key (id),
  constraint audit_log_action_format check (action ~ '^[a-z_]+(\.[a-z_]+)+$')
);
create index audit_log_organization_id_created_at_idx on public.audit_log (organization_id, created_at desc);
create index audit_log_actor_id_idx on public.audit_log (actor_id);
comment on table public.audit_log is 'Security-relevant actions (logins, resets, membership and configuration changes); never secrets.';

-- Grants: revoke everything, then grant the least each role needs.
revoke all on public.profiles, public.local_credentials, public.auth_sessions,
  public.password_reset_tokens, public.rate_limit_counters, public.audit_log
  from public, anon, authenticated;
grant all on public.profiles, public.local_credentials, public.auth_sessions,
  public.password_reset_tokens, public.rate_limit_counters, public.audit_log to service_role;
grant select on public.profiles to authenticated;
grant update (display_name) on public.profiles to authenticated;
grant select on public.audit_log to authenticated;

alter table public.profiles enable row level security;
alter table public.local_credentials enable row level security;
alter table public.auth_sessions enable row level security;
alter table public.password_reset_tokens enable row level security;
alter table public.rate_limit_counters enable row level security;
alter table public.audit_log enable row level security;

-- Local accounts are created in auth.users by the system; on Supabase, Supabase Auth owns it.
do $$
begin
  if (select tableowner from pg_tables where schemaname = 'auth' and tablename = 'users') = current_user then
    revoke all on auth.users from public, anon, authenticated;
    grant select, insert, update, delete on auth.users to service_role;
  end if;
end
$$;
