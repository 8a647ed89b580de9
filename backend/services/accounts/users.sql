-- name: insert_auth_user --
insert into auth.users (id, email) values (%(id)s, %(email)s);

-- name: insert_profile --
-- The auth.users trigger has already created the profile; this sets what we know locally.
insert into public.profiles (id, email, display_name, given_name, family_name, email_verified)
values (%(id)s, %(email)s, %(display_name)s, %(given_name)s, %(family_name)s, %(email_verified)s)
on conflict (id) do update set email = excluded.email, display_name = excluded.display_name,
  given_name = excluded.given_name, family_name = excluded.family_name, email_verified = excluded.email_verified;

-- name: insert_credentials --
insert into public.local_credentials (user_id, password_hash, must_change_password, password_changed_at)
values (%(user_id)s, %(password_hash)s, %(must_change_password)s,
        case when %(password_hash)s::text is null then null else now() end);

-- name: find_by_email --
select p.id, p.email, c.password_hash, coalesce(c.must_change_password, false) as must_change_password
from public.profiles p
left join public.local_credentials c on c.user_id = p.id
where lower(p.email) = lower(%(email)s);

-- name: find_by_id --
select p.id, p.email, c.password_hash, coalesce(c.must_change_password, false) as must_change_password
from public.profiles p
left join public.local_credentials c on c.user_id = p.id
where p.id = %(id)s;

-- name: update_password_hash --
insert into public.local_credentials (user_id, password_hash, must_change_password, password_changed_at)
values (%(user_id)s, %(password_hash)s, %(must_change_password)s, now())
on conflict (user_id) do update
  set password_hash = excluded.password_hash,
      must_change_password = excluded.must_change_password,
      password_changed_at = now();

-- name: rehash_password --
update public.local_credentials set password_hash = %(password_hash)s where user_id = %(user_id)s;

-- name: my_organizations --
select o.id, o.name, m.role
from public.memberships m
join public.organizations o on o.id = m.organization_id
where m.user_id = (select auth.uid())
order by o.name, o.id;

-- name: my_profile --
select id, email, display_name, given_name, family_name, platform_admin
from public.profiles where id = (select auth.uid());

-- name: set_my_names --
update public.profiles set given_name = %(given_name)s, family_name = %(family_name)s
where id = (select auth.uid())
returning given_name, family_name;
