-- The learning domain: organizations, memberships, quests, tasks, submissions, completions,
-- badges and notifications, with the row-level security that isolates organizations.

create table public.organizations (
  id uuid not null default gen_random_uuid(),
  name text not null,
  created_by uuid,
  created_at timestamptz not null default now(),
  constraint organizations_pkey primary key (id),
  constraint organizations_name_length check (length(btrim(name)) between 1 and 200),
  constraint organizations_created_by_fkey foreign key (created_by) references public.profiles (id) on delete set null
);
comment on table public.organizations is 'A school or company; every other domain row belongs to exactly one.';

create table public.memberships (
  organization_id uuid not null,
  user_id uuid not null,
  role text not null,
  created_at timestamptz not null default now(),
  constraint memberships_pkey primary key (organization_id, user_id),
  constraint memberships_role_check check (role in ('admin', 'member')),
  constraint memberships_organization_id_fkey foreign key (organization_id) references public.organizations (id) on delete cascade,
  constraint memberships_user_id_fkey foreign key (user_id) references public.profiles (id) on delete cascade
);
create index memberships_user_id_idx on public.memberships (user_id);
comment on table public.memberships is 'Who belongs to which organization, as admin or member.';

create table public.quests (
  id uuid not null default gen_random_uuid(),
  organization_id uuid not null,
  title text not null,
  description text not null default '',
  created_by uuid,
  created_at timestamptz not null default now(),
  constraint quests_pkey primary key (id),
  constraint quests_id_organization_id_key unique (id, organization_id),
  constraint quests_title_length check (length(btrim(title)) between 1 and 200),
  constraint quests_description_length check (length(description) <= 10000),
  constraint quests_organization_id_fkey foreign key (organization_id) references public.organizations (id) on delete cascade,
  constraint quests_created_by_fkey foreign key (created_by) references public.profiles (id) on delete set null
);
create index quests_organization_id_created_at_idx on public.quests (organization_id, created_at desc);
comment on table public.quests is 'A sequence of tasks; completing all of them earns the quest badge.';

create table public.tasks (
  id uuid not null default gen_random_uuid(),
  quest_id uuid not null,
  organization_id uuid not null,
  title text not null,
  description text not null default '',
  pillar text not null,
  xp integer not null,
  -- clock_timestamp, not now(): tasks created in one transaction keep the order they were added in
  created_at timestamptz not null default clock_timestamp(),
  constraint tasks_pkey primary key (id),
  constraint tasks_id_organization_id_key unique (id, organization_id),
  constraint tasks_title_length check (length(btrim(title)) between 1 and 200),
  constraint tasks_pillar_length check (length(btrim(pillar)) between 1 and 64),
  constraint tasks_xp_range check (xp between 0 and 100000),
  constraint tasks_quest_fkey foreign key (quest_id, organization_id) references public.quests (id, organization_id) on delete cascade
);
create index tasks_quest_id_idx on public.tasks (quest_id, created_at);
create index tasks_organization_id_idx on public.tasks (organization_id);
comment on table public.tasks is 'One step of a quest, in a pillar, worth xp once per learner.';

create table public.submissions (
  id uuid not null default gen_random_uuid(),
  task_id uuid not null,
  organization_id uuid not null,
  user_id uuid not null,
  content text not null,
  status text not null default 'submitted',
  score numeric,
  max_score numeric,
  feedback text,
  graded_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint submissions_pkey primary key (id),
  constraint submissions_status_check check (status in ('submitted', 'graded')),
  constraint submissions_content_length check (length(content) between 1 and 100000),
  constraint submissions_grade_consistent check (
    (status = 'submitted' and score is null and max_score is null and graded_at is null)
    or (status = 'graded' and score is not null and max_score > 0 and score between 0 and max_score and graded_at is not null)
  ),
  constraint submissions_task_fkey foreign key (task_id, organization_id) references public.tasks (id, organization_id) on delete cascade,
  constraint submissions_user_id_fkey foreign key (user_id) references public.profiles (id) on delete cascade
);
create index submissions_user_id_idx on public.submissions (user_id, created_at desc);
create index submissions_organization_id_idx on public.submissions (organization_id);
create index submissions_task_id_idx on public.submissions (task_id);
comment on table public.submissions is 'Work a learner hands in for a task; graded later by an admin or the autograder.';

create table public.task_completions (
  id uuid not null default gen_random_uuid(),
  task_id uuid not null,
  organization_id uuid not null,
  user_id uuid not null,
  xp_awarded integer not null default 0,
  completed_at timestamptz not null default now(),
  constraint task_completions_pkey primary key (id),
  constraint task_completions_task_id_user_id_key unique (task_id, user_id),
  constraint task_completions_task_fkey foreign key (task_id, organization_id) references public.tasks (id, organization_id) on delete cascade,
  constraint task_completions_user_id_fkey foreign key (user_id) references public.profiles (id) on delete cascade
);
create index task_completions_user_id_idx on public.task_completions (user_id);
create index task_completions_organization_id_idx on public.task_completions (organization_id);
comment on table public.task_completions is 'A learner finished a task; xp is awarded once per learner and task.';

create table public.badges (
  id uuid not null default gen_random_uuid(),
  quest_id uuid not null,
  organization_id uuid not null,
  user_id uuid not null,
  awarded_at timestamptz not null default now(),
  constraint badges_pkey primary key (id),
  constraint badges_quest_id_user_id_key unique (quest_id, user_id),
  constraint badges_quest_fkey foreign key (quest_id, organization_id) references public.quests (id, organization_id) on delete cascade,
  constraint badges_user_id_fkey foreign key (user_id) references public.profiles (id) on delete cascade
);
create index badges_user_id_idx on public.badges (user_id);
create index badges_organization_id_idx on public.badges (organization_id);
comment on table public.badges is 'Earned by completing every task of a quest; one per learner and quest.';

create table public.notifications (
  id uuid not null default gen_random_uuid(),
  user_id uuid not null,
  organization_id uuid,
  type text not null,
  title text not null,
  body text not null default '',
  data jsonb not null default '{}'::jsonb,
  read_at timestamptz,
  created_at timestamptz not null default now(),
  constraint notifications_pkey primary key (id),
  constraint notifications_type_format check (type ~ '^[a-z_]+$'),
  constraint notifications_user_id_fkey foreign key (user_id) references public.profiles (id) on delete cascade,
  constraint notifications_organization_id_fkey foreign key (organization_id) references public.organizations (id) on delete cascade
);
create index notifications_user_id_created_at_idx on public.notifications (user_id, created_at desc);
comment on table public.notifications is 'Messages for one user (badge earned, assignment graded, …).';

-- Helpers for policies. security definer so they can read memberships without recursing
-- through memberships' own policy; search_path is empty so every name is qualified.
create function private.is_org_member(org uuid) returns boolean
language sql stable security definer set search_path = ''
as $$
  select exists (
    select 1 from public.memberships m
    where m.organization_id = org and m.user_id = (select auth.uid())
  )
$$;

create function private.is_org_admin(org uuid) returns boolean
language sql stable security definer set search_path = ''
as $$
  select exists (
    select 1 from public.memberships m
    where m.organization_id = org and m.user_id = (select auth.uid()) and m.role = 'admin'
  )
$$;

create function private.shares_org_with(other uuid) returns boolean
language sql stable security definer set search_path = ''
as $$
  select exists (
    select 1 from public.memberships mine
    join public.memberships theirs on theirs.organization_id = mine.organization_id
    where mine.user_id = (select auth.uid()) and theirs.user_id = other
  )
$$;

-- Answers only the learner, an admin of the quest's organization or the system: for anyone else
-- it would leak another organization's (or another learner's) progress, so it says false.
-- current_setting('role') is the role the transaction runs as (security definer leaves it be).
create function private.quest_completed_by(quest uuid, learner uuid) returns boolean
language sql stable security definer set search_path = ''
as $$
  select (
           learner = (select auth.uid())
           or current_setting('role', true) = 'service_role'
           or exists (
             select 1 from public.quests q
             join public.memberships m on m.organization_id = q.organization_id
             where q.id = quest and m.user_id = (select auth.uid()) and m.role = 'admin'
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

-- The creator of an organization becomes its first admin.
create function private.add_creator_as_admin() returns trigger
language plpgsql security definer set search_path = ''
as $$
begin
  if new.created_by is not null then
    insert into public.memberships (organization_id, user_id, role)
    values (new.id, new.created_by, 'admin')
    on conflict do nothing;
  end if;
  return null;
end
$$;

create trigger organizations_add_creator_as_admin
after insert on public.organizations
for each row execute function private.add_creator_as_admin();

-- xp comes from the task, never from the caller.
create function private.set_completion_xp() returns trigger
language plpgsql security definer set search_path = ''
as $$
begin
  select t.xp into new.xp_awarded from public.tasks t where t.id = new.task_id;
  new.xp_awarded := coalesce(new.xp_awarded, 0);
  return new;
end
$$;

create trigger task_completions_set_xp
before insert on public.task_completions
for each row execute function private.set_completion_xp();

-- The actor of an audit entry is whoever the transaction runs as; callers cannot forge it, and
-- a user writes entries only into the log of an organization they belong to.
create function private.write_audit(
  p_organization_id uuid,
  p_action text,
  p_target_type text,
  p_target_id text,
  p_metadata jsonb,
  p_ip inet,
  p_user_agent text,
  p_actor_id uuid default null
) returns bigint
language plpgsql security definer set search_path = ''
as $$
declare
  new_id bigint;
begin
  -- current_setting('role'), not the claims: system work may run as service_role without claims.
  if current_setting('role', true) is distinct from 'service_role'
     and p_organization_id is not null
     and not private.is_org_member(p_organization_id) then
    raise exception 'not a member of organization %', p_organization_id
      using errcode = 'insufficient_privilege';
  end if;
  insert into public.audit_log (organization_id, actor_id, action, target_type, target_id, metadata, ip, user_agent)
  values (
    p_organization_id,
    coalesce((select auth.uid()), case when (select auth.role()) = 'service_role' then p_actor_id end),
    p_action, p_target_type, p_target_id, coalesce(p_metadata, '{}'::jsonb), p_ip, left(p_user_agent, 512)
  )
  returning id into new_id;
  return new_id;
end
$$;

revoke all on all functions in schema private from public;
grant execute on function private.is_org_member(uuid), private.is_org_admin(uuid),
  private.shares_org_with(uuid), private.quest_completed_by(uuid, uuid)
  to authenticated, service_role;
grant execute on function private.write_audit(uuid, text, text, text, jsonb, inet, text, uuid)
  to authenticated, service_role;

-- Grants: revoke everything, then grant the least each role needs (columns where it matters).
revoke all on public.organizations, public.memberships, public.quests, public.tasks,
  public.submissions, public.task_completions, public.badges, public.notifications
  from public, anon, authenticated;
grant all on public.organizations, public.memberships, public.quests, public.tasks,
  public.submissions, public.task_completions, public.badges, public.notifications to service_role;

grant select on public.organizations, public.memberships, public.quests, public.tasks,
  public.submissions, public.task_completions, public.badges, public.notifications to authenticated;
grant insert (id, name, created_by) on public.organizations to authenticated;
grant update (name) on public.organizations to authenticated;
grant insert (organization_id, user_id, role) on public.memberships to authenticated;
grant update (role) on public.memberships to authenticated;
grant delete on public.memberships to authenticated;
grant insert (id, organization_id, title, description, created_by) on public.quests to authenticated;
grant update (title, description) on public.quests to authenticated;
grant delete on public.quests to authenticated;
grant insert (id, quest_id, organization_id, title, description, pillar, xp) on public.tasks to authenticated;
grant update (title, description, pillar, xp) on public.tasks to authenticated;
grant delete on public.tasks to authenticated;
grant insert (id, task_id, organization_id, user_id, content) on public.submissions to authenticated;
grant update (status, score, max_score, feedback, graded_at, updated_at) on public.submissions to authenticated;
grant insert (id, task_id, organization_id, user_id) on public.task_completions to authenticated;
grant insert (id, quest_id, organization_id, user_id) on public.badges to authenticated;
grant insert (user_id, organization_id, type, title, body, data) on public.notifications to authenticated;
grant update (read_at) on public.notifications to authenticated;
grant delete on public.notifications to authenticated;

alter table public.organizations enable row level security;
alter table public.memberships enable row level security;
alter table public.quests enable row level security;
alter table public.tasks enable row level security;
alter table public.submissions enable row level security;
alter table public.task_completions enable row level security;
alter table public.badges enable row level security;
alter table public.notifications enable row level security;

-- profiles and audit_log (created in the identity migration) get their policies here, where
-- the membership helpers exist.
create policy "Users see their own profile and those of people in their organizations"
on public.profiles for select to authenticated
using (id = (select auth.uid()) or private.shares_org_with(id));

create policy "Users update their own profile"
on public.profiles for update to authenticated
using (id = (select auth.uid())) with check (id = (select auth.uid()));

create policy "Org admins read their organization's audit log"
on public.audit_log for select to authenticated
using (organization_id is not null and private.is_org_admin(organization_id));

create policy "Members see their organizations"
on public.organizations for select to authenticated
using (private.is_org_member(id));

create policy "Users create organizations they own"
on public.organizations for insert to authenticated
with check (created_by = (select auth.uid()));

create policy "Org admins rename their organization"
on public.organizations for update to authenticated
using (private.is_org_admin(id)) with check (private.is_org_admin(id));

create policy "Members see the memberships of their organizations"
on public.memberships for select to authenticated
using (private.is_org_member(organization_id));

create policy "Org admins add members"
on public.memberships for insert to authenticated
with check (private.is_org_admin(organization_id));

create policy "Org admins change member roles"
on public.memberships for update to authenticated
using (private.is_org_admin(organization_id)) with check (private.is_org_admin(organization_id));

create policy "Org admins remove members"
on public.memberships for delete to authenticated
using (private.is_org_admin(organization_id));

create policy "Members see their organization's quests"
on public.quests for select to authenticated
using (private.is_org_member(organization_id));

create policy "Org admins create quests"
on public.quests for insert to authenticated
with check (private.is_org_admin(organization_id));

create policy "Org admins edit quests"
on public.quests for update to authenticated
using (private.is_org_admin(organization_id)) with check (private.is_org_admin(organization_id));

create policy "Org admins delete quests"
on public.quests for delete to authenticated
using (private.is_org_admin(organization_id));

create policy "Members see their organization's tasks"
on public.tasks for select to authenticated
using (private.is_org_member(organization_id));

create policy "Org admins create tasks"
on public.tasks for insert to authenticated
with check (private.is_org_admin(organization_id));

create policy "Org admins edit tasks"
on public.tasks for update to authenticated
using (private.is_org_admin(organization_id)) with check (private.is_org_admin(organization_id));

create policy "Org admins delete tasks"
on public.tasks for delete to authenticated
using (private.is_org_admin(organization_id));

create policy "Learners see their own submissions and org admins see all of their organization's"
on public.submissions for select to authenticated
using (user_id = (select auth.uid()) or private.is_org_admin(organization_id));

create policy "Members submit their own work in their organizations"
on public.submissions for insert to authenticated
with check (user_id = (select auth.uid()) and private.is_org_member(organization_id));

create policy "Org admins grade submissions"
on public.submissions for update to authenticated
using (private.is_org_admin(organization_id)) with check (private.is_org_admin(organization_id));

create policy "Learners see their own completions and org admins see their organization's"
on public.task_completions for select to authenticated
using (user_id = (select auth.uid()) or private.is_org_admin(organization_id));

create policy "Members complete tasks for themselves"
on public.task_completions for insert to authenticated
with check (user_id = (select auth.uid()) and private.is_org_member(organization_id));

create policy "Learners see their own badges and org admins see their organization's"
on public.badges for select to authenticated
using (user_id = (select auth.uid()) or private.is_org_admin(organization_id));

create policy "Learners earn a badge only for a quest whose every task they completed"
on public.badges for insert to authenticated
with check (
  user_id = (select auth.uid())
  and private.is_org_member(organization_id)
  and private.quest_completed_by(quest_id, (select auth.uid()))
);

create policy "Users see their own notifications"
on public.notifications for select to authenticated
using (user_id = (select auth.uid()));

create policy "Users notify themselves within their organizations"
on public.notifications for insert to authenticated
with check (
  user_id = (select auth.uid())
  and (organization_id is null or private.is_org_member(organization_id))
);

create policy "Users mark their own notifications read"
on public.notifications for update to authenticated
using (user_id = (select auth.uid())) with check (user_id = (select auth.uid()));

create policy "Users delete their own notifications"
on public.notifications for delete to authenticated
using (user_id = (select auth.uid()));
