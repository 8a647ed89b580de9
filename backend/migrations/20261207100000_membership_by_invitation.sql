-- Membership by consent. An org admin invites an email; the person, with an account or not yet,
-- becomes a member only by accepting (the emailed link, or the prompt once signed in). Until then
-- the organization sees its invitation (email, role, status, dates) and nothing about the person.
-- Members may leave, admins may remove them, and an organization always keeps one admin.

create table public.invitations (
  id uuid not null default gen_random_uuid(),
  organization_id uuid not null,
  email text not null,
  role text not null,
  status text not null default 'pending',
  token_hash bytea not null,
  invited_by uuid,
  created_at timestamptz not null default now(),
  sent_at timestamptz not null default now(),
  expires_at timestamptz not null,
  responded_at timestamptz,
  constraint invitations_pkey primary key (id),
  constraint invitations_token_hash_key unique (token_hash),
  constraint invitations_email_format check (email ~ '^[^@\s]+@[^@\s]+$' and length(email) <= 254),
  constraint invitations_role_check check (role in ('admin', 'member')),
  constraint invitations_status_check check (status in ('pending', 'accepted', 'declined', 'revoked')),
  constraint invitations_responded_when_not_pending check ((status = 'pending') = (responded_at is null)),
  constraint invitations_organization_id_fkey foreign key (organization_id)
    references public.organizations (id) on delete cascade,
  constraint invitations_invited_by_fkey foreign key (invited_by) references public.profiles (id) on delete set null
);
-- One open invitation per organization and email: inviting it again renews that one.
create unique index invitations_one_pending_per_email on public.invitations (organization_id, lower(email))
where status = 'pending';
-- What an invitee is offered when they sign in.
create index invitations_pending_email_idx on public.invitations (lower(email)) where status = 'pending';
create index invitations_organization_id_created_at_idx on public.invitations (organization_id, created_at desc);
create index invitations_expires_at_idx on public.invitations (expires_at);
create index invitations_invited_by_idx on public.invitations (invited_by);
comment on table public.invitations is
  'An offer of membership to an email; the link''s token is stored only as a SHA-256 hash and works once.';

-- Only the system writes invitations: a token chosen by a user could be used to claim an email
-- its owner never saw. Org admins read theirs, without the token hash.
revoke all on public.invitations from public, anon, authenticated;
grant all on public.invitations to service_role;
grant select (id, organization_id, email, role, status, invited_by, created_at, sent_at, expires_at, responded_at)
  on public.invitations to authenticated;

alter table public.invitations enable row level security;

create policy "Org admins see their organization's invitations"
on public.invitations for select to authenticated
using (private.is_org_admin(organization_id));

-- A membership now starts only at acceptance, which the system records; no user adds one.
drop policy "Org admins add members" on public.memberships;
revoke insert on public.memberships from authenticated;

create policy "Members leave their organizations"
on public.memberships for delete to authenticated
using (user_id = (select auth.uid()) and private.in_token_organization(organization_id));

-- An organization keeps at least one admin, whoever removes or demotes one and however many do at
-- once. The organization's row is locked first, so two admins removing each other queue here;
-- each statement of a volatile function takes a fresh snapshot, so the second one counts the
-- admins the first left, and fails.
create function private.keep_an_admin() returns trigger
language plpgsql security definer set search_path = ''
as $$
begin
  perform 1 from public.organizations o where o.id = old.organization_id for no key update;
  if not found then
    return null;  -- the organization itself is being deleted
  end if;
  if not exists (select 1 from public.profiles p where p.id = old.user_id) then
    return null;  -- the account is being deleted
  end if;
  if not exists (
    select 1 from public.memberships m where m.organization_id = old.organization_id and m.role = 'admin'
  ) then
    raise exception 'organization % would be left without an admin', old.organization_id
      using errcode = 'check_violation', constraint = 'memberships_keep_an_admin';
  end if;
  return null;
end
$$;

comment on function private.keep_an_admin() is
  'Refuses removing or demoting the last admin of an organization (constraint memberships_keep_an_admin).';

revoke all on function private.keep_an_admin() from public, anon, authenticated;

create trigger memberships_keep_an_admin_on_delete
after delete on public.memberships
for each row when (old.role = 'admin')
execute function private.keep_an_admin();

create trigger memberships_keep_an_admin_on_update
after update of role on public.memberships
for each row when (old.role = 'admin' and new.role is distinct from 'admin')
execute function private.keep_an_admin();

-- A reset link belongs to the organization that asked for it: a newer one from the same
-- organization replaces it, another organization's request leaves it working.
alter table public.password_reset_tokens add column organization_id uuid;
alter table public.password_reset_tokens add constraint password_reset_tokens_organization_id_fkey
  foreign key (organization_id) references public.organizations (id) on delete cascade;
create index password_reset_tokens_organization_id_idx on public.password_reset_tokens (organization_id);
comment on column public.password_reset_tokens.organization_id is
  'The organization whose admin asked for the reset; null for tokens issued before organizations had their own.';
