-- An organization reads the entries about a person (sign-ins, sign-outs, password changes: those
-- of no organization) only from the moment the person accepted its membership, which is when the
-- membership row is created. What they did before they joined, or between leaving and joining
-- again, stays theirs.

drop policy "Org admins read the entries about their members that belong to no organization" on public.audit_log;
drop function private.administers_member(text);

create function private.administered_member_at(member text, at timestamptz) returns boolean
language sql stable security definer set search_path = ''
as $$
  select exists (
    select 1 from public.memberships mine
    join public.memberships theirs on theirs.organization_id = mine.organization_id
    where mine.user_id = (select auth.uid()) and mine.role = 'admin'
      and theirs.user_id::text = member
      and theirs.created_at <= at
      and private.in_token_organization(mine.organization_id)
  )
$$;

comment on function private.administered_member_at(text, timestamptz) is
  'Whether the caller administers an organization that the user with this id (as text) had joined by `at`.';

revoke all on function private.administered_member_at(text, timestamptz) from public, anon;
grant execute on function private.administered_member_at(text, timestamptz) to authenticated, service_role;

create policy "Org admins read the entries about their members from when each joined"
on public.audit_log for select to authenticated
using (
  organization_id is null and target_type = 'user' and private.administered_member_at(target_id, created_at)
);
