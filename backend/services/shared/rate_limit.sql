-- name: hit --
-- Count one request in the bucket's current window, unless it is already full. One statement,
-- so concurrent requests never over-admit or lose a count. A null count means refused. Unless
-- %(wait_for_disk)s, the transaction's commit does not wait for the WAL flush, whether counted or
-- refused (a refusal locks the row too); set here so that a count can be one autocommit statement.
with counted as (
  insert into public.rate_limit_counters as c (bucket, window_start, count)
  values (%(bucket)s, %(window_start)s, 1)
  on conflict (bucket, window_start) do update
    set count = c.count + 1
    where c.count < %(limit)s
  returning c.count
)
select (select count from counted) as count,
       case when not %(wait_for_disk)s then set_config('synchronous_commit', 'off', true) end as commit_mode;

-- name: add --
-- Count one event unconditionally (failed logins) and return the new total.
insert into public.rate_limit_counters as c (bucket, window_start, count)
values (%(bucket)s, %(window_start)s, 1)
on conflict (bucket, window_start) do update set count = c.count + 1
returning c.count;

-- name: release --
-- Take back one count of the current window (a guess that proved right).
update public.rate_limit_counters set count = count - 1
where bucket = %(bucket)s and window_start = %(window_start)s and count > 0;

-- name: delete_expired --
delete from public.rate_limit_counters where window_start < %(before)s;

-- name: pace --
-- GCRA (virtual scheduling) in one upsert: each admitted attempt moves the bucket's theoretical
-- arrival time one interval on from max(arrival, now); an attempt is admitted while that start is
-- at most (burst - 1) intervals ahead of now, so a burst goes through at once and then one attempt
-- per interval, with no window edge to game. The conflict path holds the row lock, so concurrent
-- attempts never over-admit; a refusal leaves the arrival time as it was. "Now" is read after the
-- lock (clock_timestamp() in SET): now(), the transaction's start, can be older than the arrival
-- time a transaction that started later has just committed, which would cost this one its slot.
insert into public.rate_limit_paces as p (bucket, arrival_at, admitted)
values (%(bucket)s, clock_timestamp() + %(interval)s, true)
on conflict (bucket) do update
set (arrival_at, admitted) = (
  select case when s.ok then s.start + %(interval)s else p.arrival_at end, s.ok
  from (select clock_timestamp() as now) c,
       lateral (select greatest(p.arrival_at, c.now) as start,
                       greatest(p.arrival_at, c.now) <= c.now + %(tolerance)s as ok) s
)
returning p.admitted, extract(epoch from p.arrival_at - clock_timestamp())::float8 as ahead_seconds;

-- name: give_back --
-- Take back one attempt of a paced bucket (a guess that proved right).
update public.rate_limit_paces set arrival_at = arrival_at - %(interval)s
where bucket = %(bucket)s and arrival_at > now();

-- name: delete_expired_paces --
-- A bucket whose arrival time has passed has its whole allowance back: the row says nothing.
delete from public.rate_limit_paces where arrival_at < now();
