-- core.memberships: who belongs to which organization, with which role.
--
-- One row per (user, organization), live or soft-deleted: leaving soft-deletes
-- the row and re-joining revives it. Exactly one live super admin per
-- organization is the anchor of all management rights, so a trigger keeps it
-- from being removed or demoted except through SMTA's own SECURITY DEFINER
-- functions (transfer_super_admin), recognised by current_user being the
-- table owner. A GUC flag would not do: any role can set a custom setting.

create table core.memberships (
  id              uuid primary key default gen_random_uuid(),
  user_id         uuid not null references core.users_meta (id) on delete cascade,
  organization_id uuid not null references core.organizations (id) on delete cascade,
  role_id         uuid references core.roles (id) on delete set null,
  is_super_admin  boolean not null default false,
  created_by      uuid,
  updated_by      uuid,
  is_deleted      boolean not null default false,
  deleted_at      timestamptz,
  deleted_by      uuid,
  created_at      timestamptz not null default now(),
  updated_at      timestamptz not null default now(),
  constraint memberships_user_id_organization_id_key unique (user_id, organization_id)
);

comment on table core.memberships is
  'Membership of a user in an organization (role, super-admin flag); soft-deleted when the user leaves.';
comment on constraint memberships_user_id_organization_id_key on core.memberships is
  'One membership row per user and organization; re-adding revives it.';

create unique index memberships_one_live_super_admin_idx on core.memberships (organization_id)
  where is_super_admin and not is_deleted;
comment on index core.memberships_one_live_super_admin_idx is 'At most one live super admin per organization.';

create index memberships_organization_id_idx on core.memberships (organization_id);
comment on index core.memberships_organization_id_idx is 'Tenant key / foreign key lookup.';

create index memberships_role_id_idx on core.memberships (role_id);
comment on index core.memberships_role_id_idx is 'Foreign key lookup.';

create trigger memberships_set_created_by before insert on core.memberships
  for each row execute function utils.set_created_by();
comment on trigger memberships_set_created_by on core.memberships is 'Stamps created_by.';

create trigger memberships_set_updated_at before update on core.memberships
  for each row execute function utils.set_updated_at();
comment on trigger memberships_set_updated_at on core.memberships is 'Stamps updated_at and updated_by.';

create or replace function core.guard_super_admin_membership() returns trigger
  language plpgsql
  set search_path = ''
as $$
begin
  -- SMTA's SECURITY DEFINER functions run as the table owner, and so do
  -- migrations and foreign-key cascades: they are trusted to keep the rules.
  if exists (
    select 1 from pg_catalog.pg_class c
    where c.oid = tg_relid
      and c.relowner = (select r.oid from pg_catalog.pg_roles r where r.rolname = current_user))
  then
    return coalesce(new, old);
  end if;

  if tg_op = 'DELETE' then
    if old.is_super_admin and not old.is_deleted then
      raise exception 'the super admin''s membership cannot be deleted; use transfer_super_admin first'
        using errcode = '42501';
    end if;
    return old;
  end if;

  if new.is_super_admin is distinct from old.is_super_admin then
    raise exception 'is_super_admin can only be changed by transfer_super_admin'
      using errcode = '42501';
  end if;

  if old.is_super_admin and not old.is_deleted
     and (new.is_deleted or new.role_id is distinct from old.role_id
          or new.user_id is distinct from old.user_id
          or new.organization_id is distinct from old.organization_id) then
    raise exception 'the super admin cannot be removed or demoted; use transfer_super_admin'
      using errcode = '42501';
  end if;

  if new.role_id is distinct from old.role_id and old.user_id = core.get_current_user_id() then
    raise exception 'nobody can change their own role'
      using errcode = '42501';
  end if;

  return new;
end
$$;

comment on function core.guard_super_admin_membership() is
  'BEFORE UPDATE/DELETE trigger on memberships: protects the live super admin and forbids changing one''s own role, except for the table owner.';

create trigger memberships_guard_super_admin before update or delete on core.memberships
  for each row execute function core.guard_super_admin_membership();
comment on trigger memberships_guard_super_admin on core.memberships is
  'Super admin cannot be removed, deleted or demoted, is_super_admin and one''s own role are fixed, outside SMTA''s definer functions.';

alter table core.memberships enable row level security;
