-- {table} is the family's table (public.oauth_signing_keys, public.lti_tool_keys), set by
-- KeyFamily.query as an identifier.

-- name: lock_keys --
-- Key generation and rotation of a family take turns across every process, so two never race to add a key.
select pg_advisory_xact_lock(hashtextextended(%(lock)s, 0));

-- name: published_keys --
-- Every key a verifier may meet: the next one (published ahead), the current one and those
-- still inside the lifetime of what they signed.
select kid, algorithm, public_jwk, private_key_encrypted, activates_at, retires_at, created_at
from {table}
where retires_at is null or retires_at > now()
order by activates_at;

-- name: insert_key --
insert into {table} (kid, algorithm, public_jwk, private_key_encrypted, activates_at)
values (%(kid)s, %(algorithm)s, %(public_jwk)s, %(private_key_encrypted)s, now() + make_interval(secs => %(ahead_seconds)s))
returning kid, activates_at;

-- name: retire_older_keys --
-- Keys that stop signing when the new one activates stay published until what they signed has
-- expired.
update {table}
set retires_at = %(retires_at)s
where activates_at < %(activates_at)s and (retires_at is null or retires_at > %(retires_at)s);

-- name: delete_retired_keys --
delete from {table} where retires_at <= now();
