-- name: lock_subject --
-- Two first launches of one user at once must not create two accounts.
select pg_advisory_xact_lock(hashtextextended(%(platform_id)s::text || '/' || %(subject)s, 0));

-- name: linked_user --
select l.user_id, p.email
from public.lti_user_links l
join public.profiles p on p.id = l.user_id
where l.platform_id = %(platform_id)s and l.subject = %(subject)s;

-- name: email_taken --
select exists (select 1 from public.profiles where lower(email) = lower(%(email)s)) as taken;

-- name: insert_link --
insert into public.lti_user_links (platform_id, subject, user_id)
values (%(platform_id)s, %(subject)s, %(user_id)s);

-- name: join_organization --
-- A member; a user who already belongs keeps their role (LTI roles never make anyone admin).
insert into public.memberships (organization_id, user_id, role)
values (%(organization_id)s, %(user_id)s, 'member')
on conflict (organization_id, user_id) do nothing
returning user_id;

-- name: record_resource_link --
insert into public.lti_resource_links (platform_id, resource_link_id, title)
values (%(platform_id)s, %(resource_link_id)s, %(title)s)
on conflict (platform_id, resource_link_id) do update
  set title = coalesce(excluded.title, lti_resource_links.title)
returning id, quest_id;

-- name: quest_in_organization --
select exists (
  select 1 from public.quests where id = %(quest_id)s and organization_id = %(organization_id)s
) as found;

-- name: insert_launch --
insert into public.lti_launches (platform_id, user_id, deployment_id, resource_link_id, quest_id, ags_lineitem,
  ags_lineitems, ags_scopes, frame_origin)
values (%(platform_id)s, %(user_id)s, %(deployment_id)s, %(resource_link_id)s, %(quest_id)s, %(ags_lineitem)s,
  %(ags_lineitems)s, %(ags_scopes)s, %(frame_origin)s)
returning id;

-- name: frame_origins --
-- Run as service_role: the origins that framed the user's launches, latest first.
select frame_origin
from public.lti_launches
where user_id = %(user_id)s and frame_origin is not null
group by frame_origin
order by max(created_at) desc
limit 20;

-- name: resource_link_organization --
-- Run as service_role: the organization of the platform a resource link belongs to.
select p.organization_id
from public.lti_resource_links r
join public.lti_platforms p on p.id = r.platform_id
where r.id = %(id)s;

-- name: set_resource_link_quest --
update public.lti_resource_links set quest_id = %(quest_id)s, updated_at = now()
where id = %(id)s
returning id, platform_id, resource_link_id, title, quest_id, updated_at;
