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

-- name: peek --
select count from public.rate_limit_counters
where bucket = %(bucket)s and window_start = %(window_start)s;

-- name: delete_expired --
delete from public.rate_limit_counters where window_start < %(before)s;
