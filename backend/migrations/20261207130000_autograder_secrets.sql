-- An organization's own autograder secret: it verifies grades for that organization's submissions
-- only, beside the platform-wide AUTOGRADER_WEBHOOK_SECRETS that verify every organization's.
-- Encrypted at rest like webhook signing secrets (it must be used again to check each HMAC);
-- rotated like them: the previous secret keeps verifying until previous_secret_expires_at.

create table public.autograder_secrets (
  organization_id uuid not null,
  secret_encrypted bytea not null,
  previous_secret_encrypted bytea,
  previous_secret_expires_at timestamptz,
  created_by uuid,
  rotated_by uuid,
  created_at timestamptz not null default now(),
  rotated_at timestamptz not null default now(),
  constraint autograder_secrets_pkey primary key (organization_id),
  constraint autograder_secrets_organization_id_fkey foreign key (organization_id)
    references public.organizations (id) on delete cascade,
  constraint autograder_secrets_created_by_fkey foreign key (created_by)
    references public.profiles (id) on delete set null,
  constraint autograder_secrets_rotated_by_fkey foreign key (rotated_by)
    references public.profiles (id) on delete set null,
  constraint autograder_secrets_previous_complete
    check ((previous_secret_encrypted is null) = (previous_secret_expires_at is null))
);
comment on table public.autograder_secrets is 'Per-organization autograder HMAC secrets (encrypted), each verifying grades of its organization''s submissions only; the previous secret verifies until it expires.';

-- Users never read or write the secrets: org admins read the metadata, and creation and rotation
-- go through the system after the service has checked that the caller administers the organization.
revoke all on public.autograder_secrets from public, anon, authenticated;
grant all on public.autograder_secrets to service_role;
grant select (organization_id, previous_secret_expires_at, created_by, rotated_by, created_at, rotated_at)
  on public.autograder_secrets to authenticated;

alter table public.autograder_secrets enable row level security;

create policy "Org admins see when their organization's autograder secret was made and rotated"
on public.autograder_secrets for select to authenticated
using (private.is_org_admin(organization_id));
