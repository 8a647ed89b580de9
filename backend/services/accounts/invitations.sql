-- name: member_with_email --
-- Run as the inviting admin: whether the email already belongs to a member (admins see their
-- members anyway). Nothing is read about any account outside the organization.
select m.user_id
from public.memberships m
join public.profiles p on p.id = m.user_id
where m.organization_id = %(organization_id)s and lower(p.email) = lower(%(email)s);

-- name: upsert_invitation --
-- Inviting an email that has an open invitation renews it: its role, a new link (the old one stops
-- working) and a fresh lifetime. xmax is 0 only on a row this statement inserted.
insert into public.invitations
  (organization_id, email, role, token_hash, invited_by, given_name, family_name, expires_at)
values (%(organization_id)s, %(email)s, %(role)s, %(token_hash)s, %(invited_by)s, %(given_name)s, %(family_name)s,
        now() + make_interval(secs => %(ttl)s))
on conflict (organization_id, lower(email)) where status = 'pending'
do update set role = excluded.role, token_hash = excluded.token_hash, invited_by = excluded.invited_by,
              given_name = excluded.given_name, family_name = excluded.family_name,
              sent_at = now(), expires_at = excluded.expires_at
returning id, (xmax = 0) as created;

-- name: renew_link --
update public.invitations
set token_hash = %(token_hash)s, sent_at = now(), expires_at = now() + make_interval(secs => %(ttl)s)
where id = %(id)s and organization_id = %(organization_id)s and status = 'pending'
returning id;

-- name: revoke --
update public.invitations set status = 'revoked', responded_at = now()
where id = %(id)s and organization_id = %(organization_id)s and status = 'pending'
returning id, email;

-- name: get_invitation --
-- What the organization sees of an invitation; run as one of its admins (RLS decides). An open
-- invitation past its lifetime reads as expired.
select i.id, i.organization_id, i.email, i.role,
       case when i.status = 'pending' and i.expires_at <= now() then 'expired' else i.status end as status,
       case when p.id is null then null
            else jsonb_build_object('email', p.email, 'display_name', p.display_name) end as invited_by,
       i.created_at, i.sent_at, i.expires_at, i.responded_at
from public.invitations i
left join public.profiles p on p.id = i.invited_by
where i.id = %(id)s and i.organization_id = %(organization_id)s;

-- name: list_invitations --
select i.id, i.organization_id, i.email, i.role,
       case when i.status = 'pending' and i.expires_at <= now() then 'expired' else i.status end as status,
       case when p.id is null then null
            else jsonb_build_object('email', p.email, 'display_name', p.display_name) end as invited_by,
       i.created_at, i.sent_at, i.expires_at, i.responded_at
from public.invitations i
left join public.profiles p on p.id = i.invited_by
where i.organization_id = %(organization_id)s
  and (%(status)s::text is null
       or (case when i.status = 'pending' and i.expires_at <= now() then 'expired' else i.status end) = %(status)s)
  and (%(after_created_at)s::timestamptz is null
       or (i.created_at, i.id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid))
order by i.created_at desc, i.id desc
limit %(limit)s;

-- name: letter --
-- Run as service_role: what the invitation email names, the organization and who invited.
select o.name as organization_name, p.email as inviter_email
from public.organizations o
left join public.profiles p on p.id = %(invited_by)s
where o.id = %(organization_id)s;

-- name: pending_for_user --
-- Run as service_role for the signed-in user: the open invitations sent to their email.
select i.id, jsonb_build_object('id', o.id, 'name', o.name) as organization, i.role,
       case when inviter.id is null then null
            else jsonb_build_object('email', inviter.email, 'display_name', inviter.display_name) end as invited_by,
       i.created_at, i.expires_at
from public.profiles me
join public.invitations i on lower(i.email) = lower(me.email)
join public.organizations o on o.id = i.organization_id
left join public.profiles inviter on inviter.id = i.invited_by
where me.id = %(user_id)s and i.status = 'pending' and i.expires_at > now()
order by i.created_at, i.id;

-- name: answer_for_user --
-- Single use under concurrency: only one UPDATE moves an open invitation on, and only one
-- addressed to the user's own email.
update public.invitations i set status = %(status)s, responded_at = now()
from public.profiles me
where i.id = %(id)s and me.id = %(user_id)s and lower(i.email) = lower(me.email)
  and i.status = 'pending' and i.expires_at > now()
returning i.id, i.organization_id, i.email, i.role;

-- name: state_for_user --
-- Why an invitation to the user's own email could not be answered; nothing for anyone else's.
select case when i.status = 'pending' and i.expires_at <= now() then 'expired' else i.status end as status
from public.invitations i
join public.profiles me on lower(me.email) = lower(i.email)
where i.id = %(id)s and me.id = %(user_id)s;

-- name: by_token --
-- What the holder of a link may know: the link proves they read the email it was sent to.
select i.id, i.email, i.role, i.expires_at,
       jsonb_build_object('id', o.id, 'name', o.name) as organization,
       case when inviter.id is null then null
            else jsonb_build_object('email', inviter.email, 'display_name', inviter.display_name) end as invited_by,
       exists (select 1 from public.profiles p where lower(p.email) = lower(i.email)) as account_exists
from public.invitations i
join public.organizations o on o.id = i.organization_id
left join public.profiles inviter on inviter.id = i.invited_by
where i.token_hash = %(token_hash)s and i.status = 'pending' and i.expires_at > now();

-- name: answer_by_token --
update public.invitations set status = %(status)s, responded_at = now()
where token_hash = %(token_hash)s and status = 'pending' and expires_at > now()
returning id, organization_id, email, role, given_name, family_name;

-- name: insert_membership --
-- Already a member (an operator added them meanwhile): the invitation is answered all the same.
insert into public.memberships (organization_id, user_id, role)
values (%(organization_id)s, %(user_id)s, %(role)s)
on conflict (organization_id, user_id) do nothing
returning organization_id, user_id, role, created_at;

-- name: organization_of --
select o.id, o.name, m.role
from public.organizations o
join public.memberships m on m.organization_id = o.id and m.user_id = %(user_id)s
where o.id = %(organization_id)s;

-- name: delete_expired --
-- Answered or lapsed invitations are kept 30 days for the organization's list, then dropped.
delete from public.invitations
where (status <> 'pending' and responded_at < now() - interval '30 days')
   or (status = 'pending' and expires_at < now() - interval '30 days');
