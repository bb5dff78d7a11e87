-- core.unit_meta: per-unit details, one row per unit (same id), created by
-- the units trigger. Editable by the unit's members, unlike the unit row's
-- organization-wide fields.

create table core.unit_meta (
  id          uuid primary key references core.units (id) on delete cascade,
  notes       text,
  created_by  uuid,
  updated_by  uuid,
  is_deleted  boolean not null default false,
  deleted_at  timestamptz,
  deleted_by  uuid,
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now()
);

comment on table core.unit_meta is 'Details of a unit (notes); 1:1 with units.';

create trigger unit_meta_set_created_by before insert on core.unit_meta
  for each row execute function utils.set_created_by();
comment on trigger unit_meta_set_created_by on core.unit_meta is 'Stamps created_by.';

create trigger unit_meta_set_updated_at before update on core.unit_meta
  for each row execute function utils.set_updated_at();
comment on trigger unit_meta_set_updated_at on core.unit_meta is 'Stamps updated_at and updated_by.';

alter table core.unit_meta enable row level security;
