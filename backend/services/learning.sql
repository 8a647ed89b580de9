-- name: insert_quest --
insert into public.quests (id, organization_id, title, description, created_by)
values (%(id)s, %(organization_id)s, %(title)s, %(description)s, %(created_by)s);

-- name: get_quest --
select q.id, q.organization_id, q.title, q.description, q.created_by, q.created_at,
       (select count(*) from public.tasks t where t.quest_id = q.id) as task_count
from public.quests q
where q.id = %(id)s;

-- name: list_quests --
select q.id, q.organization_id, q.title, q.description, q.created_by, q.created_at,
       (select count(*) from public.tasks t where t.quest_id = q.id) as task_count
from public.quests q
where (%(organization_id)s::uuid is null or q.organization_id = %(organization_id)s::uuid)
  and (%(after_created_at)s::timestamptz is null
       or (q.created_at, q.id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid))
order by q.created_at desc, q.id desc
limit %(limit)s;

-- name: insert_task --
insert into public.tasks (id, quest_id, organization_id, title, description, pillar, xp)
values (%(id)s, %(quest_id)s, %(organization_id)s, %(title)s, %(description)s, %(pillar)s, %(xp)s);

-- name: get_task --
select t.id, t.quest_id, t.organization_id, t.title, t.description, t.pillar, t.xp, t.created_at,
       exists (
         select 1 from public.task_completions c where c.task_id = t.id and c.user_id = (select auth.uid())
       ) as completed
from public.tasks t
where t.id = %(id)s;

-- name: list_tasks --
-- Oldest first, so a quest reads in the order its tasks were written.
select t.id, t.quest_id, t.organization_id, t.title, t.description, t.pillar, t.xp, t.created_at,
       exists (
         select 1 from public.task_completions c where c.task_id = t.id and c.user_id = (select auth.uid())
       ) as completed
from public.tasks t
where t.quest_id = %(quest_id)s
  and (%(after_created_at)s::timestamptz is null
       or (t.created_at, t.id) > (%(after_created_at)s::timestamptz, %(after_id)s::uuid))
order by t.created_at, t.id
limit %(limit)s;

-- name: insert_submission --
insert into public.submissions (id, task_id, organization_id, user_id, content)
values (%(id)s, %(task_id)s, %(organization_id)s, %(user_id)s, %(content)s)
returning id, task_id, organization_id, user_id, content, status, score, max_score, feedback, graded_at,
          created_at, updated_at;

-- name: lock_learner_quest --
-- Completions of one learner in one quest take turns, so whichever finishes the quest last
-- sees every other completion committed and the badge is never missed.
select pg_advisory_xact_lock(hashtextextended('questbridge.quest-progress:' || %(quest_id)s::text || ':' || %(user_id)s::text, 0));

-- name: insert_completion --
-- xp_awarded is set by a trigger from the task; a repeat is a no-op that returns nothing.
insert into public.task_completions (task_id, organization_id, user_id)
values (%(task_id)s, %(organization_id)s, %(user_id)s)
on conflict (task_id, user_id) do nothing
returning id, task_id, organization_id, user_id, xp_awarded, completed_at;

-- name: quest_progress --
select count(*) as tasks_total,
       count(c.id) as tasks_completed,
       private.quest_completed_by(%(quest_id)s, %(user_id)s) as completed
from public.tasks t
left join public.task_completions c on c.task_id = t.id and c.user_id = %(user_id)s
where t.quest_id = %(quest_id)s;

-- name: total_xp --
select coalesce(sum(xp_awarded), 0)::bigint as total_xp
from public.task_completions
where user_id = %(user_id)s and organization_id = %(organization_id)s;

-- name: insert_badge --
insert into public.badges (quest_id, organization_id, user_id)
values (%(quest_id)s, %(organization_id)s, %(user_id)s)
on conflict (quest_id, user_id) do nothing
returning id, quest_id, organization_id, user_id, awarded_at;

-- name: insert_notification --
insert into public.notifications (user_id, organization_id, type, title, body, data)
values (%(user_id)s, %(organization_id)s, %(type)s, %(title)s, %(body)s, %(data)s)
returning id, user_id, organization_id, type, title, body, data, read_at, created_at;

-- name: list_notifications --
select id, user_id, organization_id, type, title, body, data, read_at, created_at
from public.notifications
where user_id = %(user_id)s
  and (not %(unread_only)s or read_at is null)
  and (%(after_created_at)s::timestamptz is null
       or (created_at, id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid))
order by created_at desc, id desc
limit %(limit)s;

-- name: mark_notification_read --
update public.notifications
set read_at = coalesce(read_at, now())
where id = %(id)s and user_id = %(user_id)s
returning id, user_id, organization_id, type, title, body, data, read_at, created_at;

-- name: learner_tasks --
-- Every task of a quest, oldest first, with whether the caller completed it (the learner page).
select t.id, t.quest_id, t.organization_id, t.title, t.description, t.pillar, t.xp, t.created_at,
       exists (
         select 1 from public.task_completions c where c.task_id = t.id and c.user_id = %(user_id)s
       ) as completed
from public.tasks t
where t.quest_id = %(quest_id)s
order by t.created_at, t.id;

-- name: learner_submissions --
-- The caller's own submissions to a quest's tasks, newest first: an org admin opening the page
-- sees only their own work too, not every learner's.
select s.id, s.task_id, s.content, s.status, s.score, s.max_score, s.feedback, s.graded_at,
       s.created_at, s.updated_at
from public.submissions s
join public.tasks t on t.id = s.task_id
where t.quest_id = %(quest_id)s and s.user_id = %(user_id)s
order by s.created_at desc, s.id desc;
