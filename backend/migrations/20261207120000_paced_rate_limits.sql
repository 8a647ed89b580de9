-- Paced limits (GCRA): a bucket admits a burst at once, then one attempt per interval. Sign-ins
-- use one per email as the ceiling on distributed guessing: past it the email is slowed, not
-- locked, so its owner gets in after a short wait.

create table public.rate_limit_paces (
  bucket text not null,
  arrival_at timestamptz not null,
  admitted boolean not null default true,
  constraint rate_limit_paces_pkey primary key (bucket)
);
create index rate_limit_paces_arrival_at_idx on public.rate_limit_paces (arrival_at);
comment on table public.rate_limit_paces is 'GCRA state per bucket: the theoretical arrival time of the next attempt; a row in the past means a whole allowance, like no row. admitted: the outcome of the last attempt.';

-- Written by the system only (sign-in throttling runs as service_role).
revoke all on public.rate_limit_paces from public, anon, authenticated;
grant all on public.rate_limit_paces to service_role;

alter table public.rate_limit_paces enable row level security;
