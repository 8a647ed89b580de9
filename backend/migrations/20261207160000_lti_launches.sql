-- LTI 1.3 launches: the login states (state and nonce) a launch must answer, the users a platform
-- launched (linked by the platform's `sub`, never by email), the platforms' resource links and the
-- quests they open, and each launch with the grade-passback endpoints its platform gave.
-- Only the system reads or writes them (service_role): they hold what proves a launch.

create table public.lti_login_states (
  state_hash text not null,
  nonce text not null,
  platform_id uuid not null,
  expires_at timestamptz not null,
  created_at timestamptz not null default now(),
  constraint lti_login_states_pkey primary key (state_hash),
  constraint lti_login_states_nonce_length check (length(nonce) between 16 and 128),
  constraint lti_login_states_platform_id_fkey foreign key (platform_id)
    references public.lti_platforms (id) on delete cascade
);
create index lti_login_states_expires_at_idx on public.lti_login_states (expires_at);
comment on table public.lti_login_states is 'A login initiation''s state (as its hash) and nonce; a launch consumes its row, so each nonce is used once.';

create table public.lti_user_links (
  platform_id uuid not null,
  subject text not null,
  user_id uuid not null,
  created_at timestamptz not null default now(),
  constraint lti_user_links_pkey primary key (platform_id, subject),
  constraint lti_user_links_subject_length check (length(subject) between 1 and 255),
  constraint lti_user_links_platform_id_fkey foreign key (platform_id)
    references public.lti_platforms (id) on delete cascade,
  constraint lti_user_links_user_id_fkey foreign key (user_id) references public.profiles (id) on delete cascade
);
create index lti_user_links_user_id_idx on public.lti_user_links (user_id);
comment on table public.lti_user_links is 'Which Questbridge user a platform''s `sub` is: found by (platform, sub), never by email.';

create table public.lti_resource_links (
  id uuid not null default gen_random_uuid(),
  platform_id uuid not null,
  resource_link_id text not null,
  title text,
  quest_id uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint lti_resource_links_pkey primary key (id),
  constraint lti_resource_links_platform_link_key unique (platform_id, resource_link_id),
  constraint lti_resource_links_resource_link_id_length check (length(resource_link_id) between 1 and 255),
  constraint lti_resource_links_title_length check (length(title) <= 500),
  constraint lti_resource_links_platform_id_fkey foreign key (platform_id)
    references public.lti_platforms (id) on delete cascade,
  constraint lti_resource_links_quest_id_fkey foreign key (quest_id) references public.quests (id) on delete set null
);
comment on table public.lti_resource_links is 'A platform''s resource link (a placement in a course) and the quest it opens, set by an org admin.';

create table public.lti_launches (
  id uuid not null default gen_random_uuid(),
  platform_id uuid not null,
  user_id uuid not null,
  deployment_id text not null,
  resource_link_id text not null,
  quest_id uuid not null,
  ags_lineitem text,
  ags_lineitems text,
  ags_scopes text[] not null default '{}',
  created_at timestamptz not null default now(),
  constraint lti_launches_pkey primary key (id),
  constraint lti_launches_platform_id_fkey foreign key (platform_id)
    references public.lti_platforms (id) on delete cascade,
  constraint lti_launches_user_id_fkey foreign key (user_id) references public.profiles (id) on delete cascade,
  constraint lti_launches_quest_id_fkey foreign key (quest_id) references public.quests (id) on delete cascade,
  constraint lti_launches_ags_lineitem_length check (length(ags_lineitem) <= 2048),
  constraint lti_launches_ags_lineitems_length check (length(ags_lineitems) <= 2048)
);
create index lti_launches_user_quest_idx on public.lti_launches (user_id, quest_id, created_at desc);
comment on table public.lti_launches is 'A verified resource-link launch: who, from which platform and link, and the AGS endpoint claim grade passback uses.';

revoke all on public.lti_login_states, public.lti_user_links, public.lti_resource_links, public.lti_launches
  from public, anon, authenticated;
grant all on public.lti_login_states, public.lti_user_links, public.lti_resource_links, public.lti_launches
  to service_role;
alter table public.lti_login_states enable row level security;
alter table public.lti_user_links enable row level security;
alter table public.lti_resource_links enable row level security;
alter table public.lti_launches enable row level security;
