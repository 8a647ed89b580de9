-- A revoked API key stays revoked. Org admins may set revoked_at (revocation is theirs), and
-- nothing else clears it: clearing it would bring a leaked key back to life and, since a revoked
-- key does not count, let an organization hold more live keys than its max_api_keys.
create function private.keep_api_keys_revoked() returns trigger
language plpgsql security definer set search_path = ''
as $$
begin
  if old.revoked_at is not null and new.revoked_at is distinct from old.revoked_at then
    raise exception 'API key % is revoked, and stays revoked', old.key_id
      using errcode = 'check_violation', constraint = 'api_keys_stay_revoked';
  end if;
  return new;
end
$$;

comment on function private.keep_api_keys_revoked() is
  'Refuses any change of revoked_at once an API key is revoked (no un-revoking, no moving the date).';

revoke all on function private.keep_api_keys_revoked() from public, anon, authenticated;

create trigger api_keys_stay_revoked
before update of revoked_at on public.api_keys
for each row execute function private.keep_api_keys_revoked();
