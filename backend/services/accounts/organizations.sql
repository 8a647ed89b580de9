-- name: insert_organization --
insert into public.organizations (id, name, created_by) values (%(id)s, %(name)s, %(created_by)s);

-- name: get_organization --
select o.id, o.name, o.created_at, m.role
from public.organizations o
left join public.memberships m on m.organization_id = o.id and m.user_id = (select auth.uid())
where o.id = %(id)s;

-- name: list_organizations --
select o.id, o.name, o.created_at, m.role
from public.organizations o
left join public.memberships m on m.organization_id = o.id and m.user_id = (select auth.uid())
where (%(after_created_at)s::timestamptz is null
       or (o.created_at, o.id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid))
order by o.created_at desc, o.id desc
limit %(limit)s;

-- name: list_members --
select m.user_id, p.email, p.display_name, m.role, m.created_at
from public.memberships m
join public.profiles p on p.id = m.user_id
where m.organization_id = %(organization_id)s
  and (%(after_created_at)s::timestamptz is null
       or (m.created_at, m.user_id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid))
order by m.created_at desc, m.user_id desc
limit %(limit)s;

-- name: membership --
select user_id, role from public.memberships
where organization_id = %(organization_id)s and user_id = %(user_id)s;

-- name: delete_membership --
-- RLS decides who may (an admin, or the member themselves); a trigger keeps the last admin.
delete from public.memberships where organization_id = %(organization_id)s and user_id = %(user_id)s;

-- name: organization_name --
select name from public.organizations where id = %(id)s;
