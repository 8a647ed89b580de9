-- Where the platform framed a launch: the origin of its launch_presentation return_url (Canvas's
-- and Moodle's course pages send one), else of its issuer. The learner pages let the origins of a
-- learner's own launches frame them (CSP frame-ancestors), and no other site.
alter table public.lti_launches
  add column frame_origin text,
  add constraint lti_launches_frame_origin_length check (length(frame_origin) <= 300);
comment on column public.lti_launches.frame_origin is 'scheme://host[:port] of the page that framed the launch; the learner pages may be framed by it.';
