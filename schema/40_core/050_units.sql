-- core.units: subdivisions of an organization (teams, sites, departments).
--
-- A new unit gets its unit_meta row from a SECURITY DEFINER trigger, because
-- clients may not insert unit_meta themselves.

create table core.units (
  id              uuid primary key default gen_random_uuid(),
  organization_id uuid not null references core.organizations (id) on delete cascade,
  name            text not null,
  description     text,
  created_by      uuid,
  updated_by      uuid,
  is_deleted      boolean not null default false,
  deleted_at      timestamptz,
  deleted_by      uuid,
  created_at      timestamptz not null default now(),
  updated_at      timestamptz not null default now()
);

comment on table core.units is 'Units (subdivisions) of an organization.';

create index units_organization_id_idx on core.units (organization_id);
comment on index core.units_organization_id_idx is 'Tenant key / foreign key lookup.';

create trigger units_set_created_by before insert on core.units
  for each row execute function utils.set_created_by();
comment on trigger units_set_created_by on core.units is 'Stamps created_by.';

create trigger units_set_updated_at before update on core.units
  for each row execute function utils.set_updated_at();
comment on trigger units_set_updated_at on core.units is 'Stamps updated_at and updated_by.';

create or replace function core.on_unit_created() returns trigger
  language plpgsql security definer
  set search_path = ''
as $$
begin
  insert into core.unit_meta (id, created_by) values (new.id, new.created_by);
  return null;
end
$$;

comment on function core.on_unit_created() is 'AFTER INSERT trigger on units: creates the unit''s unit_meta row.';

create trigger units_on_created after insert on core.units
  for each row execute function core.on_unit_created();
comment on trigger units_on_created on core.units is 'Creates the unit_meta row of a new unit.';

alter table core.units enable row level security;
