-- name: insert_pushed_event --
insert into public.api_key_events (event_id, organization_id, api_key_id, client_ip)
values (%(event_id)s, %(organization_id)s, %(api_key_id)s, %(client_ip)s::inet);

-- name: get_pushed_event --
select e.id as event_id, e.type as event_type, e.payload -> 'data' as data, e.organization_id,
       k.key_id as pushed_by, e.created_at,
       coalesce((select jsonb_object_agg(s.status, s.n)
                 from (select d.status, count(*) as n
                       from public.webhook_deliveries d
                       where d.event_id = e.id
                       group by d.status) s), '{}'::jsonb) as deliveries
from public.api_key_events p
join public.webhook_events e on e.id = p.event_id
join public.api_keys k on k.id = p.api_key_id
where p.event_id = %(event_id)s and p.organization_id = %(organization_id)s;
