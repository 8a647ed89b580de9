-- Every auth.users row gets a profile: local accounts and Supabase Auth sign-ups alike, so a
-- Supabase user can create organizations and be added to them from their first request.

create function private.handle_new_auth_user() returns trigger
language plpgsql security definer set search_path = ''
as $$
begin
  insert into public.profiles (id, email)
  values (new.id, coalesce(nullif(btrim(new.email), ''), new.id::text || '@users.invalid'))
  on conflict do nothing;
  return null;
end
$$;

revoke all on function private.handle_new_auth_user() from public, anon, authenticated;

do $$
begin
  if not exists (
    select 1 from pg_trigger
    where tgname = 'questbridge_profiles_for_new_users' and tgrelid = 'auth.users'::regclass
  ) then
    create trigger questbridge_profiles_for_new_users
    after insert on auth.users
    for each row execute function private.handle_new_auth_user();
  end if;
end
$$;

-- Users who signed up before this migration.
insert into public.profiles (id, email)
select u.id, coalesce(nullif(btrim(u.email), ''), u.id::text || '@users.invalid')
from auth.users u
on conflict do nothing;
