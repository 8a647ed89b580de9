-- name: platforms_by_issuer --
-- Run as service_role: the login initiation names its platform by issuer (and client id).
select id, organization_id, issuer, client_id, deployment_ids, auth_login_url, key_set_url
from public.lti_platforms
where issuer = %(issuer)s and (%(client_id)s::text is null or client_id = %(client_id)s)
order by created_at
limit 2;

-- name: insert_login_state --
insert into public.lti_login_states (state_hash, nonce, platform_id, expires_at)
values (%(state_hash)s, %(nonce)s, %(platform_id)s, now() + make_interval(secs => %(ttl)s));

-- name: login_state --
-- The platform a live state was issued for; the row stays until the token's signature is checked.
select s.nonce, p.id, p.organization_id, p.issuer, p.client_id, p.deployment_ids, p.key_set_url
from public.lti_login_states s
join public.lti_platforms p on p.id = s.platform_id
where s.state_hash = %(state_hash)s and s.expires_at > now();

-- name: consume_login_state --
-- One launch per state and nonce: of two concurrent posts of the same state, one deletes the row.
delete from public.lti_login_states
where state_hash = %(state_hash)s and expires_at > now()
returning nonce;

-- name: delete_expired_states --
delete from public.lti_login_states where expires_at <= now();
