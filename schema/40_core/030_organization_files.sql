-- core.organization_files: file records (URL and metadata) owned by an
-- organization. The bytes live in object storage; this is what members share
-- and what organizations_meta.logo_file_id points at, hence created before it.

create table core.organization_files (
  id              uuid primary key default gen_random_uuid(),
  organization_id uuid not null references core.organizations (id) on delete cascade,
  file_url        text not null,
  file_type       text not null,
  file_specs      jsonb not null default '{}'::jsonb,
  file_size       integer check (file_size >= 0),
  created_by      uuid,
  updated_by      uuid,
  is_deleted      boolean not null default false,
  deleted_at      timestamptz,
  deleted_by      uuid,
  created_at      timestamptz not null default now(),
  updated_at      timestamptz not null default now()
);

comment on table core.organization_files is
  'Files of an organization (storage URL, type, size, free-form specs); shared by its members.';

create index organization_files_organization_id_idx on core.organization_files (organization_id);
comment on index core.organization_files_organization_id_idx is 'Tenant key / foreign key lookup.';

create trigger organization_files_set_created_by before insert on core.organization_files
  for each row execute function utils.set_created_by();
comment on trigger organization_files_set_created_by on core.organization_files is 'Stamps created_by.';

create trigger organization_files_set_updated_at before update on core.organization_files
  for each row execute function utils.set_updated_at();
comment on trigger organization_files_set_updated_at on core.organization_files is 'Stamps updated_at and updated_by.';

alter table core.organization_files enable row level security;
