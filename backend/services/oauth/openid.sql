-- name: user_claims --
-- What an id_token or the userinfo endpoint may say about a user (the scopes decide what it does).
select id, email, email_verified, display_name, given_name, family_name
from public.profiles
where id = %(user_id)s;

-- name: nonce_used --
-- A nonce already sent by this client with an openid authorization is a replay.
select exists (
  select 1 from public.oauth_authorization_codes where client_id = %(client_id)s and nonce = %(nonce)s
) as used;
