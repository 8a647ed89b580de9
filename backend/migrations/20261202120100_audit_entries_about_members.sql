-- Sign-ins, sign-outs and password changes belong to a person, not an organization, so their audit
-- entries carry no organization_id. An org admin reads those about the members of the
-- organizations they administer: GET /api/audit?organization_id= shows the sign-ins of its people.

create function private.administers_member(member text) returns boolean
language sql stable security definer set search_path = ''
as $$
  select exists (
    select 1 from public.memberships mine
    join public.memberships theirs on theirs.organization_id = mine.organization_id
    where mine.user_id = (select auth.uid()) and mine.role = 'admin'
      and theirs.user_id::text = member
      and private.in_token_organization(mine.organization_id)
  )
$$;

comment on function private.administers_member(text) is
  'Whether the caller administers an organization that the user with this id (as text) belongs to.';

revoke all on function private.administers_member(text) from public, anon;
grant execute on function private.administers_member(text) to authenticated, service_role;

create policy "Org admins read the entries about their members that belong to no organization"
on public.audit_log for select to authenticated
using (organization_id is null and target_type = 'user' and private.administers_member(target_id));

create index audit_log_person_entries_idx on public.audit_log (target_id, created_at desc)
where organization_id is null and target_type = 'user';
