-- RPCs: units and unit membership.
--
-- Rules: members of the organization create and edit units (as the units
-- policies allow); deleting a unit and managing unit members needs the
-- organization's super admin; a unit member must be a live member of the
-- unit's organization. A unit (or organization) that is soft-deleted is
-- treated as missing: core.get_org_id_for_unit returns NULL for it.

create or replace function public.create_unit(p_org_id uuid, p_name text, p_description text default null)
returns uuid
  language plpgsql security definer
  set search_path = ''
as $$
declare
  v_uid uuid := utils.require_user_id();
  v_id  uuid;
begin
  if not core.is_org_member(p_org_id) then
    raise exception 'only members of the organization can create units' using errcode = '42501';
  end if;
  if p_name is null or btrim(p_name) = '' then
    raise exception 'a unit name is required' using errcode = '22023';
  end if;

  insert into core.units (organization_id, name, description, created_by)
  values (p_org_id, p_name, p_description, v_uid)
  returning id into v_id;

  perform utils.record_audit(p_org_id, 'units', v_id, 'create', 'unit created', jsonb_build_object('name', p_name));
  return v_id;
end
$$;
comment on function public.create_unit(uuid, text, text) is 'Member: creates a unit in the organization; returns its id.';

create or replace function public.update_unit(p_id uuid, p_name text, p_description text)
returns uuid
  language plpgsql security definer
  set search_path = ''
as $$
declare
  v_uid uuid := utils.require_user_id();
  v_org uuid := core.get_org_id_for_unit(p_id);
begin
  if v_org is null or not core.is_org_member(v_org) then
    raise exception 'only members of the unit''s organization can update it' using errcode = '42501';
  end if;
  if p_name is not null and btrim(p_name) = '' then
    raise exception 'a unit name cannot be empty' using errcode = '22023';
  end if;

  update core.units u
  set name = coalesce(p_name, u.name),
      description = coalesce(p_description, u.description)
  where u.id = p_id;

  perform utils.record_audit(v_org, 'units', p_id, 'update', 'unit updated',
    jsonb_build_object('name', p_name, 'description', p_description));
  return p_id;
end
$$;
comment on function public.update_unit(uuid, text, text) is
  'Member: renames / redescribes a unit (NULL keeps a field); returns its id.';

create or replace function public.delete_unit(p_id uuid)
returns uuid
  language plpgsql security definer
  set search_path = ''
as $$
declare
  v_uid uuid := utils.require_user_id();
  v_org uuid := core.get_org_id_for_unit(p_id);
begin
  if v_org is null or not core.is_super_admin(v_org) then
    raise exception 'only the super admin of the unit''s organization can delete it' using errcode = '42501';
  end if;

  -- unit_meta and unit_memberships disappear with it (policies check the unit).
  perform utils.soft_delete('core.units', p_id);

  perform utils.record_audit(v_org, 'units', p_id, 'delete', 'unit deleted', '{}'::jsonb);
  return p_id;
end
$$;
comment on function public.delete_unit(uuid) is 'Super admin: soft-deletes a unit; returns its id.';

create or replace function public.get_unit(p_id uuid)
returns table (
  id              uuid,
  organization_id uuid,
  name            text,
  description     text,
  notes           text,
  created_by      uuid,
  created_at      timestamptz,
  updated_at      timestamptz
)
  language sql stable
  set search_path = ''
as $$
  select u.id, u.organization_id, u.name, u.description, um.notes, u.created_by, u.created_at, u.updated_at
  from core.units u
  left join core.unit_meta um on um.id = u.id and not um.is_deleted
  where u.id = p_id and not u.is_deleted
$$;
comment on function public.get_unit(uuid) is 'One unit with its notes, if the caller may read it (zero or one row).';

create or replace function public.list_units(p_org_id uuid)
returns table (
  id              uuid,
  organization_id uuid,
  name            text,
  description     text,
  created_by      uuid,
  created_at      timestamptz,
  updated_at      timestamptz
)
  language sql stable
  set search_path = ''
as $$
  select u.id, u.organization_id, u.name, u.description, u.created_by, u.created_at, u.updated_at
  from core.units u
  where u.organization_id = p_org_id and not u.is_deleted
  order by u.name, u.id
$$;
comment on function public.list_units(uuid) is 'Live units of an organization the caller belongs to.';

create or replace function public.list_my_units()
returns table (
  id              uuid,
  organization_id uuid,
  name            text,
  description     text,
  role_id         uuid,
  role_name       text,
  created_at      timestamptz
)
  language sql stable
  set search_path = ''
as $$
  -- Reading units through RLS drops units of organizations the caller left.
  select u.id, u.organization_id, u.name, u.description, um.role_id, r.name, u.created_at
  from core.unit_memberships um
  join core.units u on u.id = um.unit_id
  left join core.roles r on r.id = um.role_id
  where um.user_id = core.get_current_user_id()
    and not um.is_deleted
    and not u.is_deleted
  order by u.name, u.id
$$;
comment on function public.list_my_units() is 'Units the caller is a unit member of (in organizations they belong to), with the unit role.';

create or replace function public.get_user_units(p_org_id uuid)
returns table (
  id              uuid,
  organization_id uuid,
  name            text,
  description     text,
  role_id         uuid,
  role_name       text,
  created_at      timestamptz
)
  language sql stable
  set search_path = ''
as $$
  select l.id, l.organization_id, l.name, l.description, l.role_id, l.role_name, l.created_at
  from public.list_my_units() as l
  where l.organization_id = p_org_id
$$;
comment on function public.get_user_units(uuid) is 'The caller''s units within one organization (list_my_units filtered).';

create or replace function public.list_unit_members(p_unit_id uuid)
returns table (
  id         uuid,
  unit_id    uuid,
  user_id    uuid,
  role_id    uuid,
  role_name  text,
  email      text,
  first_name text,
  last_name  text,
  created_at timestamptz
)
  language sql stable
  set search_path = ''
as $$
  select um.id, um.unit_id, um.user_id, um.role_id, r.name, u.email, u.first_name, u.last_name, um.created_at
  from core.unit_memberships um
  left join core.roles r on r.id = um.role_id
  left join core.users_meta u on u.id = um.user_id
  where um.unit_id = p_unit_id and not um.is_deleted
  order by um.created_at, um.id
$$;
comment on function public.list_unit_members(uuid) is
  'Live unit memberships of a unit, as far as the caller may read them (unit membership id, user, role, profile).';

create or replace function public.add_member_to_unit(p_unit_id uuid, p_user_id uuid, p_role_id uuid default null)
returns uuid
  language plpgsql security definer
  set search_path = ''
as $$
declare
  v_uid      uuid := utils.require_user_id();
  v_org      uuid := core.get_org_id_for_unit(p_unit_id);
  v_role     uuid := p_role_id;
  v_existing record;
  v_revived  boolean := false;
  v_id       uuid;
begin
  if v_org is null or not core.is_super_admin(v_org) then
    raise exception 'only the super admin of the unit''s organization can add unit members' using errcode = '42501';
  end if;
  if not exists (
    select 1 from core.memberships m
    where m.organization_id = v_org and m.user_id = p_user_id and not m.is_deleted) then
    raise exception 'the user is not a member of the unit''s organization' using errcode = '42501';
  end if;
  if v_role is null then
    select r.id into v_role from core.roles r where r.organization_id is null and r.name = 'team';
  end if;
  if not core.is_assignable_role(v_role, v_org) then
    raise exception 'this role cannot be given in this organization' using errcode = '42501';
  end if;

  select um.id, um.is_deleted into v_existing
  from core.unit_memberships um
  where um.user_id = p_user_id and um.unit_id = p_unit_id;

  if found and not v_existing.is_deleted then
    raise exception 'the user is already a member of this unit' using errcode = '23505';
  elsif found then
    update core.unit_memberships um
    set is_deleted = false, deleted_at = null, deleted_by = null, role_id = v_role
    where um.id = v_existing.id;
    v_id := v_existing.id;
    v_revived := true;
  else
    insert into core.unit_memberships (user_id, unit_id, role_id, created_by)
    values (p_user_id, p_unit_id, v_role, v_uid)
    returning id into v_id;
  end if;

  perform utils.record_audit(v_org, 'unit_memberships', v_id, 'add_member', 'unit member added',
    jsonb_build_object('unit_id', p_unit_id, 'user_id', p_user_id, 'role_id', v_role, 'revived', v_revived));
  return v_id;
end
$$;
comment on function public.add_member_to_unit(uuid, uuid, uuid) is
  'Super admin: adds (or re-adds) a member of the organization to a unit (default role: global team); returns the unit membership id.';

create or replace function public.update_unit_member_role(p_unit_id uuid, p_user_id uuid, p_role_id uuid)
returns uuid
  language plpgsql security definer
  set search_path = ''
as $$
declare
  v_uid  uuid := utils.require_user_id();
  v_org  uuid := core.get_org_id_for_unit(p_unit_id);
  v_um   record;
begin
  if v_org is null or not core.is_super_admin(v_org) then
    raise exception 'only the super admin of the unit''s organization can change unit roles' using errcode = '42501';
  end if;

  select um.id, um.role_id into v_um
  from core.unit_memberships um
  where um.unit_id = p_unit_id and um.user_id = p_user_id and not um.is_deleted;
  if not found then
    raise exception 'the user is not a member of this unit' using errcode = '42501';
  end if;
  if p_role_id is null or not core.is_assignable_role(p_role_id, v_org) then
    raise exception 'this role cannot be given in this organization' using errcode = '42501';
  end if;

  update core.unit_memberships um set role_id = p_role_id where um.id = v_um.id;

  perform utils.record_audit(v_org, 'unit_memberships', v_um.id, 'update_role', 'unit member role changed',
    jsonb_build_object('unit_id', p_unit_id, 'user_id', p_user_id, 'old_role_id', v_um.role_id, 'new_role_id', p_role_id));
  return v_um.id;
end
$$;
comment on function public.update_unit_member_role(uuid, uuid, uuid) is
  'Super admin: changes a unit member''s unit role; returns the unit membership id.';

create or replace function public.remove_member_from_unit(p_unit_id uuid, p_user_id uuid)
returns uuid
  language plpgsql security definer
  set search_path = ''
as $$
declare
  v_uid uuid := utils.require_user_id();
  v_org uuid := core.get_org_id_for_unit(p_unit_id);
  v_id  uuid;
begin
  if v_org is null or not core.is_super_admin(v_org) then
    raise exception 'only the super admin of the unit''s organization can remove unit members' using errcode = '42501';
  end if;

  select um.id into v_id
  from core.unit_memberships um
  where um.unit_id = p_unit_id and um.user_id = p_user_id and not um.is_deleted;
  if not found then
    raise exception 'the user is not a member of this unit' using errcode = '42501';
  end if;

  perform utils.soft_delete('core.unit_memberships', v_id);

  perform utils.record_audit(v_org, 'unit_memberships', v_id, 'remove_member', 'unit member removed',
    jsonb_build_object('unit_id', p_unit_id, 'user_id', p_user_id));
  return v_id;
end
$$;
comment on function public.remove_member_from_unit(uuid, uuid) is
  'Super admin: removes a user from a unit (soft delete); returns the unit membership id.';

create or replace function public.assign_user_to_unit(p_user_id uuid, p_unit_id uuid, p_role_id uuid default null)
returns uuid
  language plpgsql security definer
  set search_path = ''
as $$
begin
  -- Same checks, made by the function it delegates to; identity first.
  perform utils.require_user_id();
  return public.add_member_to_unit(p_unit_id, p_user_id, p_role_id);
end
$$;
comment on function public.assign_user_to_unit(uuid, uuid, uuid) is
  'Same as add_member_to_unit, arguments (user, unit, role).';

create or replace function public.remove_user_from_unit(p_user_id uuid, p_unit_id uuid)
returns uuid
  language plpgsql security definer
  set search_path = ''
as $$
begin
  perform utils.require_user_id();
  return public.remove_member_from_unit(p_unit_id, p_user_id);
end
$$;
comment on function public.remove_user_from_unit(uuid, uuid) is
  'Same as remove_member_from_unit, arguments (user, unit).';

create or replace function public.get_user_unit_permissions(p_unit_id uuid)
returns jsonb
  language sql stable
  set search_path = ''
as $$
  select coalesce(r.casl_rules, '[]'::jsonb)
  from core.unit_memberships um
  left join core.roles r on r.id = um.role_id
  where um.unit_id = p_unit_id
    and um.user_id = core.get_current_user_id()
    and not um.is_deleted
    and core.is_unit_member(p_unit_id)
$$;
comment on function public.get_user_unit_permissions(uuid) is
  'CASL rules of the caller''s unit role ([] without role); NULL when the caller is not a unit member.';
