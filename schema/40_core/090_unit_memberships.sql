-- core.unit_memberships: who belongs to which unit, with which role.
--
-- Only meaningful together with a live membership of the unit's
-- organization: the helpers in 50_core_helpers/ grant nothing for a unit
-- membership whose user has left the organization.

create table core.unit_memberships (
  id          uuid primary key default gen_random_uuid(),
  user_id     uuid not null references core.users_meta (id) on delete cascade,
  unit_id     uuid not null references core.units (id) on delete cascade,
  role_id     uuid references core.roles (id) on delete set null,
  created_by  uuid,
  updated_by  uuid,
  is_deleted  boolean not null default false,
  deleted_at  timestamptz,
  deleted_by  uuid,
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now(),
  constraint unit_memberships_user_id_unit_id_key unique (user_id, unit_id)
);

comment on table core.unit_memberships is 'Membership of a user in a unit, with a role; soft-deleted on removal.';
comment on constraint unit_memberships_user_id_unit_id_key on core.unit_memberships is
  'One row per user and unit; re-adding revives it.';

create index unit_memberships_unit_id_idx on core.unit_memberships (unit_id);
comment on index core.unit_memberships_unit_id_idx is 'Tenant path / foreign key lookup.';

create index unit_memberships_role_id_idx on core.unit_memberships (role_id);
comment on index core.unit_memberships_role_id_idx is 'Foreign key lookup.';

create trigger unit_memberships_set_created_by before insert on core.unit_memberships
  for each row execute function utils.set_created_by();
comment on trigger unit_memberships_set_created_by on core.unit_memberships is 'Stamps created_by.';

create trigger unit_memberships_set_updated_at before update on core.unit_memberships
  for each row execute function utils.set_updated_at();
comment on trigger unit_memberships_set_updated_at on core.unit_memberships is 'Stamps updated_at and updated_by.';

alter table core.unit_memberships enable row level security;
