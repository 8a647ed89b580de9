-- name: metadata --
-- As the user: RLS shows the row to the organization's admins only; the secrets are not granted.
select organization_id, previous_secret_expires_at, created_by, rotated_by, created_at, rotated_at
from public.autograder_secrets
where organization_id = %(organization_id)s;

-- name: rotate --
-- Run as service_role (the current secret moves to the previous slot, and no user role may read
-- it); the caller has already been checked to administer the organization. The first rotation
-- creates the row: xmax is 0 for a row this statement inserted.
insert into public.autograder_secrets as a (organization_id, secret_encrypted, created_by, rotated_by)
values (%(organization_id)s, %(secret_encrypted)s, %(user_id)s, %(user_id)s)
on conflict (organization_id) do update
set previous_secret_encrypted = case when %(grace_seconds)s::integer > 0 then a.secret_encrypted end,
    previous_secret_expires_at = case when %(grace_seconds)s::integer > 0
                                      then now() + make_interval(secs => %(grace_seconds)s::integer) end,
    secret_encrypted = excluded.secret_encrypted,
    rotated_by = excluded.rotated_by,
    rotated_at = now()
returning organization_id, previous_secret_expires_at, created_by, rotated_by, created_at, rotated_at,
          (xmax = 0) as created;

-- name: secrets_for_submission --
-- On receipt, when no platform secret verified a grade: the secrets of the submission's
-- organization in force now (one statement on a system connection). No row: no such submission,
-- or its organization has no secret; the caller answers both like a bad signature.
select a.organization_id, a.secret_encrypted,
       case when a.previous_secret_expires_at > now() then a.previous_secret_encrypted end
         as previous_secret_encrypted
from public.submissions s
join public.autograder_secrets a on a.organization_id = s.organization_id
where s.id = %(submission_id)s;

-- name: any_configured --
select exists (select 1 from public.autograder_secrets) as configured;
