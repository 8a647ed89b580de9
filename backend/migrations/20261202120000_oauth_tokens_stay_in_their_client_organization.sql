-- An OAuth access token acts for its user only inside the organization that registered its client.
-- Such a request's claims carry `client_organization_id`, which the app's set_identity() also puts
-- in the setting request.client_organization_id; the membership helpers that the policies call
-- then count no membership elsewhere, so a token from Academy's LMS client never reaches the other
-- organizations its user belongs to, through any route or any statement. Requests without the
-- claim (users' own tokens and sessions, Supabase tokens) are not narrowed.
--
-- The helpers run once per row a policy checks, so this one reads a plain setting rather than
-- parsing the claims' JSON, and has no SET clause, so that Postgres inlines it (it calls nothing
-- outside pg_catalog, which search_path cannot shadow).

create function private.in_token_organization(org uuid) returns boolean
language sql stable
as $$
  select coalesce(nullif(current_setting('request.client_organization_id', true), '') = org::text, true)
$$;

comment on function private.in_token_organization(uuid) is
  'False when the request runs for an OAuth client of another organization than org; true otherwise.';

revoke all on function private.in_token_organization(uuid) from public, anon;
grant execute on function private.in_token_organization(uuid) to authenticated, service_role;

create or replace function private.is_org_member(org uuid) returns boolean
language sql stable security definer set search_path = ''
as $$
  select private.in_token_organization(org) and exists (
    select 1 from public.memberships m
    where m.organization_id = org and m.user_id = (select auth.uid())
  )
$$;

create or replace function private.is_org_admin(org uuid) returns boolean
language sql stable security definer set search_path = ''
as $$
  select private.in_token_organization(org) and exists (
    select 1 from public.memberships m
    where m.organization_id = org and m.user_id = (select auth.uid()) and m.role = 'admin'
  )
$$;

create or replace function private.shares_org_with(other uuid) returns boolean
language sql stable security definer set search_path = ''
as $$
  select exists (
    select 1 from public.memberships mine
    join public.memberships theirs on theirs.organization_id = mine.organization_id
    where mine.user_id = (select auth.uid()) and theirs.user_id = other
      and private.in_token_organization(mine.organization_id)
  )
$$;

create or replace function private.quest_completed_by(quest uuid, learner uuid) returns boolean
language sql stable security definer set search_path = ''
as $$
  select (
           learner = (select auth.uid())
           or current_setting('role', true) = 'service_role'
           or exists (
             select 1 from public.quests q
             join public.memberships m on m.organization_id = q.organization_id
             where q.id = quest and m.user_id = (select auth.uid()) and m.role = 'admin'
               and private.in_token_organization(q.organization_id)
           )
         )
     and exists (select 1 from public.tasks t where t.quest_id = quest)
     and not exists (
       select 1 from public.tasks t
       where t.quest_id = quest
         and not exists (
           select 1 from public.task_completions c where c.task_id = t.id and c.user_id = learner
         )
     )
$$;
