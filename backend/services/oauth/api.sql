-- name: me --
-- Run as the token's user: their profile and their role in the client's organization.
select p.id, p.email, p.display_name, o.id as organization_id, o.name as organization_name, m.role
from public.profiles p
left join public.memberships m on m.user_id = p.id and m.organization_id = %(organization_id)s
left join public.organizations o on o.id = m.organization_id
where p.id = (select auth.uid());

-- name: progress --
-- Run as the token's user: RLS keeps it to quests they can see and to their own completions.
select q.id as quest_id, q.organization_id, q.title, q.created_at,
       count(t.id) as tasks_total,
       count(c.id) as tasks_completed,
       coalesce(sum(c.xp_awarded), 0)::bigint as xp,
       exists (
         select 1 from public.badges b where b.quest_id = q.id and b.user_id = (select auth.uid())
       ) as badge_earned
from public.quests q
left join public.tasks t on t.quest_id = q.id
left join public.task_completions c on c.task_id = t.id and c.user_id = (select auth.uid())
where q.organization_id = %(organization_id)s
  and (%(after_created_at)s::timestamptz is null
       or (q.created_at, q.id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid))
group by q.id
order by q.created_at desc, q.id desc
limit %(limit)s;

-- name: totals --
select coalesce(sum(xp_awarded), 0)::bigint as total_xp, count(*) as tasks_completed,
       (select count(*) from public.badges b
        where b.user_id = (select auth.uid()) and b.organization_id = %(organization_id)s) as badges
from public.task_completions
where user_id = (select auth.uid()) and organization_id = %(organization_id)s;

-- name: quests --
-- Run as the token's user: RLS shows the quests only to members of the organization.
select q.id, q.organization_id, q.title, q.description, q.created_by, q.created_at,
       (select count(*) from public.tasks t where t.quest_id = q.id) as task_count
from public.quests q
where q.organization_id = %(organization_id)s
  and (%(after_created_at)s::timestamptz is null
       or (q.created_at, q.id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid))
order by q.created_at desc, q.id desc
limit %(limit)s;
