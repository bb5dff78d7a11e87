-- platform.platform_roles: roles of the SaaS operator's own staff (support,
-- billing, admin), unrelated to tenant roles in core.roles. Service only.
--
-- Columns chosen: name (unique), description, permissions (jsonb), timestamps.

create table platform.platform_roles (
  id          uuid primary key default gen_random_uuid(),
  name        text not null unique,
  description text,
  permissions jsonb not null default '{}'::jsonb,
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now()
);

comment on table platform.platform_roles is 'Roles of the operator''s staff (name, description, permissions).';

create trigger platform_roles_touch before update on platform.platform_roles
  for each row execute function utils.touch_updated_at();
comment on trigger platform_roles_touch on platform.platform_roles is 'Stamps updated_at.';

alter table platform.platform_roles enable row level security;
