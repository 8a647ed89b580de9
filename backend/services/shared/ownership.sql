-- name: caller --
select auth.uid() as id;

-- name: role_in --
select private.is_org_member(%(org)s) as member, private.is_org_admin(%(org)s) as admin;

-- name: administered --
-- Up to two organizations the caller administers: enough to tell none, one and several apart.
select organization_id from public.memberships
where user_id = (select auth.uid()) and role = 'admin' and private.in_token_organization(organization_id)
order by created_at
limit 2;
