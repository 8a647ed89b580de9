-- POST /api/webhooks/test admits a test send only while the organization has few webhook.test
-- deliveries still waiting or being sent. This index is what that count reads: the few such rows,
-- never the organization's whole delivery log.
create index webhook_deliveries_unfinished_tests_idx on public.webhook_deliveries (organization_id)
where event_type = 'webhook.test' and status in ('pending', 'delivering');
comment on index public.webhook_deliveries_unfinished_tests_idx is
  'The unfinished webhook.test deliveries of each organization, counted to cap its test sends in flight.';
