-- name: insert_event --
insert into public.webhook_events (id, organization_id, type, payload)
values (%(id)s, %(organization_id)s, %(type)s, %(payload)s);

-- name: fan_out --
-- One delivery per active subscription of the organization listing the type (or '*').
insert into public.webhook_deliveries (event_id, subscription_id, organization_id, event_type)
select %(event_id)s, s.id, s.organization_id, %(type)s
from public.webhook_subscriptions s
where s.organization_id = %(organization_id)s
  and s.active
  and (s.event_types @> array[%(type)s]::text[] or s.event_types @> array['*']::text[]);

-- name: notify --
select pg_notify('questbridge_deliveries', '');

-- name: fan_out_to_subscription --
insert into public.webhook_deliveries (event_id, subscription_id, organization_id, event_type)
select %(event_id)s, s.id, s.organization_id, %(type)s
from public.webhook_subscriptions s
where s.id = %(subscription_id)s and s.organization_id = %(organization_id)s
returning id;
