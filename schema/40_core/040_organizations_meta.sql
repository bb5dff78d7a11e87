-- core.organizations_meta: per-organization settings, one row per
-- organization (same id), created by the organization trigger, never by
-- clients. Kept apart from organizations so that members' SELECT of the
-- tenant row stays narrow and settings can grow.

create table core.organizations_meta (
  id           uuid primary key references core.organizations (id) on delete cascade,
  logo_file_id uuid references core.organization_files (id) on delete set null,
  address      text,
  timezone     text,
  locale       text,
  created_by   uuid,
  updated_by   uuid,
  is_deleted   boolean not null default false,
  deleted_at   timestamptz,
  deleted_by   uuid,
  created_at   timestamptz not null default now(),
  updated_at   timestamptz not null default now()
);

comment on table core.organizations_meta is
  'Settings of an organization (logo file, address, timezone, locale); 1:1 with organizations.';

create index organizations_meta_logo_file_id_idx on core.organizations_meta (logo_file_id);
comment on index core.organizations_meta_logo_file_id_idx is 'Foreign key lookup (file deletion).';

create trigger organizations_meta_set_created_by before insert on core.organizations_meta
  for each row execute function utils.set_created_by();
comment on trigger organizations_meta_set_created_by on core.organizations_meta is 'Stamps created_by.';

create trigger organizations_meta_set_updated_at before update on core.organizations_meta
  for each row execute function utils.set_updated_at();
comment on trigger organizations_meta_set_updated_at on core.organizations_meta is 'Stamps updated_at and updated_by.';

alter table core.organizations_meta enable row level security;
