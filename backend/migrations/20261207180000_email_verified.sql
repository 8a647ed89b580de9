-- Whether we know a user's email address is theirs. Accounts made by invitation (the link was
-- followed) or by an operator are; an account an LMS launch created took the address from the
-- platform's claim, which we never checked, so OpenID Connect must not call it verified.
alter table public.profiles
  add column email_verified boolean not null default true;
comment on column public.profiles.email_verified is 'False when the address came from an unchecked source (an LTI launch''s email claim).';
