-- platform.platform_users: the operator's staff accounts. Service only.
--
-- Columns (SPEC): user_id (unique; the identity provider's user id, not a
-- foreign key so that staff need no tenant profile), email (unique), role_id
-- -> platform_roles; chosen: is_active, timestamps.

create table platform.platform_users (
  id         uuid primary key default gen_random_uuid(),
  user_id    uuid not null unique,
  email      text not null unique,
  role_id    uuid references platform.platform_roles (id) on delete set null,
  is_active  boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

comment on table platform.platform_users is 'Operator staff accounts (user id, email, platform role, active flag).';

create index platform_users_role_id_idx on platform.platform_users (role_id);
comment on index platform.platform_users_role_id_idx is 'Foreign key lookup.';

create trigger platform_users_touch before update on platform.platform_users
  for each row execute function utils.touch_updated_at();
comment on trigger platform_users_touch on platform.platform_users is 'Stamps updated_at.';

alter table platform.platform_users enable row level security;
