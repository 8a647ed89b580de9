-- The per-minute burst of API keys becomes a GCRA bucket (continuous-state leaky bucket) instead
-- of a clock minute: a clock minute admitted the whole burst at 12:00:59 and again at 12:01:00.
-- burst_level is the requests' worth in the bucket at burst_at; it drains at per_minute/60 a
-- second and a request is admitted while it adds at most 1 without passing per_minute. The state
-- stays in the day's row, so one upsert still decides both windows; the first request of a UTC day
-- takes the previous day's level over and closes that row (closed), so a request still dated the
-- previous day cannot be admitted on a burst the new day no longer sees.

alter table public.api_key_usage
  drop constraint api_key_usage_counts_nonnegative,
  drop column minute_start,
  drop column minute_requests,
  add column burst_level double precision not null default 0,
  add column burst_at timestamptz not null default now(),
  add column closed boolean not null default false,
  add constraint api_key_usage_counts_nonnegative check (requests >= 0 and rate_limited >= 0 and burst_level >= 0);

comment on column public.api_key_usage.burst_level is 'Requests'' worth in the burst bucket at burst_at (GCRA); drains at per_minute/60 a second.';
comment on column public.api_key_usage.closed is 'The next UTC day has taken this row''s burst over: a request still dated this day is refused.';
comment on table public.api_key_usage is 'Per key lineage and UTC day: admitted requests, rate-limited requests and the burst bucket, moved by one atomic upsert per request.';
