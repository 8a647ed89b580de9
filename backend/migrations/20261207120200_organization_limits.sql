-- What an organization may hold in API keys: the tiers it may issue and how many live keys, set
-- by a platform admin (profiles.platform_admin) and never by the organization's own admins.
-- Every organization has a row: new ones get the defaults (starter, 5 keys) from a trigger;
-- existing ones keep what they already use, so no key in service stops working or stops rotating.
-- A trigger on api_keys holds every writer to them (the API explains a refusal before it gets
-- there; an org admin writing to the table directly, as Supabase's REST API allows, meets it).

create table public.organization_limits (
  organization_id uuid not null,
  allowed_tiers text[] not null default '{starter}',
  max_api_keys integer not null default 5,
  updated_by uuid,
  updated_at timestamptz not null default now(),
  constraint organization_limits_pkey primary key (organization_id),
  constraint organization_limits_allowed_tiers_known
    check (cardinality(allowed_tiers) >= 1 and allowed_tiers <@ array['starter', 'pro', 'enterprise']),
  constraint organization_limits_max_api_keys_range check (max_api_keys between 0 and 10000),
  constraint organization_limits_organization_id_fkey
    foreign key (organization_id) references public.organizations (id) on delete cascade,
  constraint organization_limits_updated_by_fkey
    foreign key (updated_by) references public.profiles (id) on delete set null
);
comment on table public.organization_limits is 'Per organization: the API-key tiers it may issue and the number of live keys (a rotated lineage counts once) it may hold; set by platform admins.';

insert into public.organization_limits (organization_id, allowed_tiers, max_api_keys)
select o.id,
       array(select t.tier from unnest(array['starter', 'pro', 'enterprise']) with ordinality t(tier, position)
             where t.tier = 'starter'
                or exists (select 1 from public.api_keys k
                           where k.organization_id = o.id and k.tier = t.tier and k.revoked_at is null)
             order by t.position),
       greatest(5, (select count(*) from public.api_keys k
                    where k.organization_id = o.id and k.revoked_at is null and k.replaced_by is null))
from public.organizations o;

create function private.add_default_organization_limits() returns trigger
language plpgsql security definer set search_path = ''
as $$
begin
  insert into public.organization_limits (organization_id) values (new.id) on conflict do nothing;
  return null;
end
$$;

revoke all on function private.add_default_organization_limits() from public, anon, authenticated;

create trigger organizations_add_default_limits
after insert on public.organizations
for each row execute function private.add_default_organization_limits();

revoke all on public.organization_limits from public, anon, authenticated;
grant all on public.organization_limits to service_role;
grant select on public.organization_limits to authenticated;
grant update (allowed_tiers, max_api_keys, updated_by, updated_at) on public.organization_limits to authenticated;

alter table public.organization_limits enable row level security;

create policy "Org admins and platform admins see an organization's limits"
on public.organization_limits for select to authenticated
using (
  private.is_org_admin(organization_id)
  or exists (select 1 from public.profiles p where p.id = (select auth.uid()) and p.platform_admin)
);

create policy "Platform admins change organization limits"
on public.organization_limits for update to authenticated
using (exists (select 1 from public.profiles p where p.id = (select auth.uid()) and p.platform_admin))
with check (
  exists (select 1 from public.profiles p where p.id = (select auth.uid()) and p.platform_admin)
  and updated_by = (select auth.uid())
);

-- Every new key must be of an allowed tier; a new lineage (not a rotation's replacement, which
-- takes its predecessor's place) must also fit under max_api_keys. The limits row is locked first,
-- so concurrent inserts for one organization count one after another; the count is a statement of
-- its own after the lock, so it sees every key committed before it.
create function private.check_organization_key_limits() returns trigger
language plpgsql security definer set search_path = ''
as $$
declare
  limits public.organization_limits;
  held integer;
begin
  select * into limits from public.organization_limits where organization_id = new.organization_id for update;
  if not found or not new.tier = any(limits.allowed_tiers) then
    raise exception 'organization % may not issue % API keys', new.organization_id, new.tier
      using errcode = 'check_violation', constraint = 'api_keys_tier_allowed';
  end if;
  if new.lineage_id = new.id then
    select count(*) into held from public.api_keys
    where organization_id = new.organization_id and revoked_at is null and replaced_by is null;
    if held >= limits.max_api_keys then
      raise exception 'organization % holds % of its % API keys', new.organization_id, held, limits.max_api_keys
        using errcode = 'check_violation', constraint = 'api_keys_within_max_api_keys';
    end if;
  end if;
  return new;
end
$$;

revoke all on function private.check_organization_key_limits() from public, anon, authenticated;

create trigger api_keys_within_organization_limits
before insert on public.api_keys
for each row execute function private.check_organization_key_limits();
