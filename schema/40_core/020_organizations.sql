-- core.organizations: the tenants.
--
-- Creating an organization is a single INSERT naming created_by; the AFTER
-- INSERT trigger then gives it everything an organization always has: the
-- creator's super-admin membership, its organizations_meta row and its
-- platform.platform_organizations row. That function is SECURITY DEFINER
-- because the creator may not write any of those rows directly. The tables it
-- writes are created later in load order; PL/pgSQL resolves them at call time.
--
-- Note: a direct INSERT ... RETURNING by a client fails, because PostgreSQL
-- checks the new row against the SELECT policy (membership) before AFTER
-- triggers run. Clients use public.create_organization() or omit RETURNING.

create table core.organizations (
  id          uuid primary key default gen_random_uuid(),
  name        text not null,
  description text,
  created_by  uuid not null,
  updated_by  uuid,
  is_deleted  boolean not null default false,
  deleted_at  timestamptz,
  deleted_by  uuid,
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now()
);

comment on table core.organizations is
  'Tenants. Inserting one makes created_by its super admin and creates its meta and platform rows.';

create trigger organizations_set_created_by before insert on core.organizations
  for each row execute function utils.set_created_by();
comment on trigger organizations_set_created_by on core.organizations is 'Fills created_by with the current user when omitted.';

create trigger organizations_set_updated_at before update on core.organizations
  for each row execute function utils.set_updated_at();
comment on trigger organizations_set_updated_at on core.organizations is 'Stamps updated_at and updated_by.';

create or replace function core.on_organization_created() returns trigger
  language plpgsql security definer
  set search_path = ''
as $$
declare
  v_super_admin_role uuid;
begin
  select r.id into v_super_admin_role
  from core.roles r
  where r.organization_id is null and r.name = 'super_admin';

  insert into core.memberships (user_id, organization_id, role_id, is_super_admin, created_by)
  values (new.created_by, new.id, v_super_admin_role, true, new.created_by);

  insert into core.organizations_meta (id, created_by)
  values (new.id, new.created_by);

  insert into platform.platform_organizations (id, label)
  values (new.id, new.name);

  return null;
end
$$;

comment on function core.on_organization_created() is
  'AFTER INSERT trigger on organizations: creator''s super-admin membership, organizations_meta row, platform_organizations row.';

create trigger organizations_on_created after insert on core.organizations
  for each row execute function core.on_organization_created();
comment on trigger organizations_on_created on core.organizations is 'Creates the super-admin membership, meta and platform rows of a new organization.';

alter table core.organizations enable row level security;
