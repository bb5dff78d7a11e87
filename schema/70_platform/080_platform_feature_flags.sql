-- platform.platform_feature_flags: feature switches of the SaaS. Service
-- only; the backend decides what a tenant sees.
--
-- Columns chosen: key (unique), description, is_enabled (global switch),
-- rules (jsonb targeting, e.g. organization ids or a rollout percentage),
-- timestamps.

create table platform.platform_feature_flags (
  id          uuid primary key default gen_random_uuid(),
  key         text not null unique,
  description text,
  is_enabled  boolean not null default false,
  rules       jsonb not null default '{}'::jsonb,
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now()
);

comment on table platform.platform_feature_flags is 'Feature flags: unique key, global switch and targeting rules.';

create trigger platform_feature_flags_touch before update on platform.platform_feature_flags
  for each row execute function utils.touch_updated_at();
comment on trigger platform_feature_flags_touch on platform.platform_feature_flags is 'Stamps updated_at.';

alter table platform.platform_feature_flags enable row level security;
