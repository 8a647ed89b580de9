-- name: accept_grade --
-- A grade's receipt in one statement: the submission's organization (null: no such submission,
-- or, when an organization's own secret verified the grade, none of that organization's) and the
-- event (none when its replay key exists: the unique constraint decides, across processes). The
-- audit entries of the receipt's steps are written with the grade, from this row.
with submission as (
  select id, organization_id from public.submissions
  where id = %(submission_id)s
    and (%(organization_id)s::uuid is null or organization_id = %(organization_id)s::uuid)
), event as (
  insert into public.inbound_events
    (source, idempotency_key, type, status, organization_id, subject_id, sent_at, raw_body, body_sha256,
     client_ip, user_agent)
  select 'autograder', %(idempotency_key)s, 'grade', 'pending', s.organization_id, s.id,
         to_timestamp(%(sent_at)s::double precision), %(raw_body)s, decode(%(idempotency_key)s, 'hex'),
         %(client_ip)s, left(%(user_agent)s, 512)
  from submission s
  on conflict do nothing
  returning id
)
select (select organization_id from submission) as organization_id,
       (select id from event) as event_id;

-- name: audit_steps --
-- One audit entry per step, in order, in one round trip.
select private.write_audit(%(organization_id)s, s.action, 'inbound_event', %(event_id)s, s.metadata, %(ip)s,
                           %(user_agent)s)
from unnest(%(actions)s::text[], %(metadata)s::jsonb[]) with ordinality as s(action, metadata, n)
order by s.n;

-- name: lock_submission --
-- Grades of one submission take turns, so the check for a newer grade below sees every grade
-- applied before this one.
select s.id, s.organization_id, s.user_id, s.task_id, s.status, t.title as task_title
from public.submissions s
join public.tasks t on t.id = s.task_id
where s.id = %(id)s
for update of s;

-- name: newer_grade --
-- Newer means signed later; of two grades signed in the same second, the one received later.
select id from public.inbound_events
where source = 'autograder' and subject_id = %(submission_id)s and status = 'processed'
  and (sent_at, received_at, id) > (%(sent_at)s, %(received_at)s, %(id)s)
limit 1;

-- name: grade_submission --
update public.submissions
set status = 'graded', score = %(score)s, max_score = %(max_score)s, feedback = %(feedback)s,
    graded_at = now(), updated_at = now()
where id = %(id)s
returning id, task_id, user_id, organization_id, score, max_score, feedback, graded_at;

-- name: submission_organization --
select organization_id from public.submissions where id = %(id)s;
