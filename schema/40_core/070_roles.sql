-- core.roles: named permission sets (CASL rules).
--
-- organization_id NULL marks a global built-in role, shared by every
-- organization; a set organization_id scopes a custom role to that
-- organization. Names are unique per scope, the global scope included
-- (NULLS NOT DISTINCT), and an organization cannot define its own
-- 'super_admin': that name must always mean the real super admin.
-- The built-in roles are seeded here and protected by a trigger.

create table core.roles (
  id              uuid primary key default gen_random_uuid(),
  name            text not null,
  description     text,
  casl_rules      jsonb not null default '[]'::jsonb,
  organization_id uuid references core.organizations (id) on delete cascade,
  created_by      uuid,
  updated_by      uuid,
  is_deleted      boolean not null default false,
  deleted_at      timestamptz,
  deleted_by      uuid,
  created_at      timestamptz not null default now(),
  updated_at      timestamptz not null default now(),
  constraint roles_organization_id_name_key unique nulls not distinct (organization_id, name),
  constraint roles_super_admin_name_reserved check (organization_id is null or name <> 'super_admin')
);

comment on table core.roles is
  'Roles with CASL rules: global built-ins (organization_id NULL) and roles scoped to one organization.';
comment on constraint roles_organization_id_name_key on core.roles is
  'One name per scope; all global roles form a single scope.';
comment on constraint roles_super_admin_name_reserved on core.roles is
  'Only the global built-in role may be called super_admin.';
-- The unique index leads with organization_id and so also serves the foreign key.

create trigger roles_set_created_by before insert on core.roles
  for each row execute function utils.set_created_by();
comment on trigger roles_set_created_by on core.roles is 'Stamps created_by.';

create trigger roles_set_updated_at before update on core.roles
  for each row execute function utils.set_updated_at();
comment on trigger roles_set_updated_at on core.roles is 'Stamps updated_at and updated_by.';

-- The built-ins are referenced by name (organization trigger, RPC defaults),
-- so they must not disappear or be renamed. Only the table owner (migrations)
-- may; the check is on current_user, which clients cannot fake.
create or replace function core.protect_builtin_roles() returns trigger
  language plpgsql
  set search_path = ''
as $$
begin
  if old.organization_id is null
     and old.name in ('super_admin', 'manager', 'team')
     and not exists (
       select 1 from pg_catalog.pg_class c
       where c.oid = tg_relid and c.relowner = (select r.oid from pg_catalog.pg_roles r where r.rolname = current_user))
  then
    if tg_op = 'DELETE'
       or new.name is distinct from old.name
       or new.organization_id is not null
       or new.is_deleted then
      raise exception 'built-in role % cannot be deleted, renamed or moved', old.name
        using errcode = '42501';
    end if;
  end if;
  return coalesce(new, old);
end
$$;

comment on function core.protect_builtin_roles() is
  'BEFORE UPDATE/DELETE trigger on roles: the global super_admin, manager and team roles always exist.';

create trigger roles_protect_builtin before update or delete on core.roles
  for each row execute function core.protect_builtin_roles();
comment on trigger roles_protect_builtin on core.roles is 'Keeps the built-in global roles in place.';

alter table core.roles enable row level security;

insert into core.roles (name, description, casl_rules, organization_id) values
  ('super_admin', 'Owner of an organization: manages it, its members and roles.',
   '[{"action": "manage", "subject": "all"}]'::jsonb, null),
  ('manager', 'Manages units and content of an organization.',
   '[{"action": "read", "subject": "all"}, {"action": "manage", "subject": "Unit"}, {"action": "manage", "subject": "OrganizationFile"}]'::jsonb, null),
  ('team', 'Regular member: reads the organization and works on its content.',
   '[{"action": "read", "subject": "all"}, {"action": "create", "subject": "OrganizationFile"}]'::jsonb, null)
on conflict on constraint roles_organization_id_name_key do nothing;
