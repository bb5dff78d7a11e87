-- platform.platform_settings: SaaS-wide key/value configuration. Service only.
--
-- Columns (SPEC): key (primary key), value (jsonb); chosen: description,
-- updated_at.

create table platform.platform_settings (
  key         text primary key,
  value       jsonb not null default '{}'::jsonb,
  description text,
  updated_at  timestamptz not null default now()
);

comment on table platform.platform_settings is 'SaaS-wide settings as key/value (jsonb) pairs.';

create trigger platform_settings_touch before update on platform.platform_settings
  for each row execute function utils.touch_updated_at();
comment on trigger platform_settings_touch on platform.platform_settings is 'Stamps updated_at.';

alter table platform.platform_settings enable row level security;
