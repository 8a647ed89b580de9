-- name: delete_old --
-- Retention: events older than the cut-off go, with their deliveries and attempts (cascade),
-- unless a delivery is still on its way.
delete from public.webhook_events e
where e.created_at < now() - make_interval(days => %(days)s)
  and not exists (
    select 1 from public.webhook_deliveries d
    where d.event_id = e.id and d.status in ('pending', 'delivering', 'retrying')
  );
