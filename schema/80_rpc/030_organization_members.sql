-- RPCs: organization membership (list, add, change role, remove, leave,
-- transfer the super admin).
--
-- Rules (SPEC section 3): managing members needs the super admin; a member may
-- leave (remove themselves); the super admin can be neither removed nor
-- demoted except by transfer_super_admin, and only to a live member. Roles
-- given out must be global (never super_admin) or the organization's own.
-- Removal is a soft delete of the membership (and of the user's unit
-- memberships in that organization); re-adding revives the same row.

create or replace function public.list_organization_members(p_id uuid)
returns table (
  id              uuid,
  organization_id uuid,
  user_id         uuid,
  role_id         uuid,
  role_name       text,
  is_super_admin  boolean,
  email           text,
  first_name      text,
  last_name       text,
  created_at      timestamptz
)
  language sql stable
  set search_path = ''
as $$
  select m.id, m.organization_id, m.user_id, m.role_id, r.name, m.is_super_admin,
         u.email, u.first_name, u.last_name, m.created_at
  from core.memberships m
  left join core.roles r on r.id = m.role_id
  left join core.users_meta u on u.id = m.user_id
  where m.organization_id = p_id and not m.is_deleted
  order by m.created_at, m.id
$$;
comment on function public.list_organization_members(uuid) is
  'Live members of an organization the caller belongs to (membership id, user, role, profile).';

create or replace function public.add_member_to_organization(p_org_id uuid, p_user_id uuid, p_role_id uuid default null)
returns uuid
  language plpgsql security definer
  set search_path = ''
as $$
declare
  v_uid      uuid := utils.require_user_id();
  v_role     uuid := p_role_id;
  v_existing record;
  v_revived  boolean := false;
  v_id       uuid;
begin
  if not core.is_super_admin(p_org_id) then
    raise exception 'only the super admin of the organization can add members' using errcode = '42501';
  end if;
  if v_role is null then
    select r.id into v_role from core.roles r where r.organization_id is null and r.name = 'team';
  end if;
  if not core.is_assignable_role(v_role, p_org_id) then
    raise exception 'this role cannot be given in this organization' using errcode = '42501';
  end if;
  if not exists (select 1 from core.users_meta u where u.id = p_user_id and not u.is_deleted) then
    raise exception 'unknown user' using errcode = '42501';
  end if;

  select m.id, m.is_deleted into v_existing
  from core.memberships m
  where m.user_id = p_user_id and m.organization_id = p_org_id;

  if found and not v_existing.is_deleted then
    raise exception 'the user is already a member of this organization' using errcode = '23505';
  elsif found then
    update core.memberships m
    set is_deleted = false, deleted_at = null, deleted_by = null, is_super_admin = false, role_id = v_role
    where m.id = v_existing.id;
    v_id := v_existing.id;
    v_revived := true;
  else
    insert into core.memberships (user_id, organization_id, role_id, created_by)
    values (p_user_id, p_org_id, v_role, v_uid)
    returning id into v_id;
  end if;

  perform utils.record_audit(p_org_id, 'memberships', v_id, 'add_member', 'member added',
    jsonb_build_object('user_id', p_user_id, 'role_id', v_role, 'revived', v_revived));
  return v_id;
end
$$;
comment on function public.add_member_to_organization(uuid, uuid, uuid) is
  'Super admin: adds (or re-adds) a user with a role (default: global team); returns the membership id.';

create or replace function public.update_member_role(p_org_id uuid, p_user_id uuid, p_role_id uuid)
returns uuid
  language plpgsql security definer
  set search_path = ''
as $$
declare
  v_uid    uuid := utils.require_user_id();
  v_member record;
begin
  if not core.is_super_admin(p_org_id) then
    raise exception 'only the super admin of the organization can change roles' using errcode = '42501';
  end if;
  if p_user_id = v_uid then
    raise exception 'nobody can change their own role' using errcode = '42501';
  end if;

  select m.id, m.is_super_admin, m.role_id into v_member
  from core.memberships m
  where m.user_id = p_user_id and m.organization_id = p_org_id and not m.is_deleted;
  if not found then
    raise exception 'the user is not a member of this organization' using errcode = '42501';
  end if;
  if v_member.is_super_admin then
    raise exception 'the super admin cannot be demoted; use transfer_super_admin' using errcode = '42501';
  end if;
  if p_role_id is null or not core.is_assignable_role(p_role_id, p_org_id) then
    raise exception 'this role cannot be given in this organization' using errcode = '42501';
  end if;

  update core.memberships m set role_id = p_role_id where m.id = v_member.id;

  perform utils.record_audit(p_org_id, 'memberships', v_member.id, 'update_role', 'member role changed',
    jsonb_build_object('user_id', p_user_id, 'old_role_id', v_member.role_id, 'new_role_id', p_role_id));
  return v_member.id;
end
$$;
comment on function public.update_member_role(uuid, uuid, uuid) is
  'Super admin: changes another (non super admin) member''s role; returns the membership id.';

create or replace function public.remove_member_from_organization(p_org_id uuid, p_user_id uuid)
returns uuid
  language plpgsql security definer
  set search_path = ''
as $$
declare
  v_uid    uuid := utils.require_user_id();
  v_self   boolean := (p_user_id = v_uid);
  v_member record;
  v_unit_membership uuid;
begin
  -- The super admin removes others; any member may remove themselves (leave).
  if not (core.is_super_admin(p_org_id) or (v_self and core.is_org_member(p_org_id))) then
    raise exception 'only the super admin can remove other members' using errcode = '42501';
  end if;

  select m.id, m.is_super_admin into v_member
  from core.memberships m
  where m.user_id = p_user_id and m.organization_id = p_org_id and not m.is_deleted;
  if not found then
    raise exception 'the user is not a member of this organization' using errcode = '42501';
  end if;
  if v_member.is_super_admin then
    raise exception 'the super admin cannot be removed; use transfer_super_admin first' using errcode = '42501';
  end if;

  perform utils.soft_delete('core.memberships', v_member.id);

  -- Unit memberships grant nothing without the organization membership, but
  -- they are removed too so that the organization's lists stay truthful.
  for v_unit_membership in
    select um.id
    from core.unit_memberships um
    join core.units u on u.id = um.unit_id
    where um.user_id = p_user_id and u.organization_id = p_org_id and not um.is_deleted
  loop
    perform utils.soft_delete('core.unit_memberships', v_unit_membership);
  end loop;

  perform utils.record_audit(p_org_id, 'memberships', v_member.id, 'remove_member',
    case when v_self then 'member left' else 'member removed' end,
    jsonb_build_object('user_id', p_user_id, 'self', v_self));
  return v_member.id;
end
$$;
comment on function public.remove_member_from_organization(uuid, uuid) is
  'Super admin removes a member, or a member leaves (p_user_id = caller); never the super admin. Returns the membership id.';

create or replace function public.remove_user_from_organization(p_user_id uuid, p_org_id uuid)
returns uuid
  language plpgsql security definer
  set search_path = ''
as $$
begin
  -- Same checks, made by the function it delegates to; identity first.
  perform utils.require_user_id();
  return public.remove_member_from_organization(p_org_id, p_user_id);
end
$$;
comment on function public.remove_user_from_organization(uuid, uuid) is
  'Same as remove_member_from_organization, arguments (user, organization).';

create or replace function public.transfer_super_admin(p_org_id uuid, p_new_super_admin_user_id uuid)
returns uuid
  language plpgsql security definer
  set search_path = ''
as $$
declare
  v_uid          uuid := utils.require_user_id();
  v_target       uuid;
  v_super_role   uuid;
  v_manager_role uuid;
begin
  if not core.is_super_admin(p_org_id) then
    raise exception 'only the super admin of the organization can transfer the role' using errcode = '42501';
  end if;

  select m.id into v_target
  from core.memberships m
  where m.organization_id = p_org_id and m.user_id = p_new_super_admin_user_id
    and not m.is_deleted and not m.is_super_admin;
  if not found then
    raise exception 'the new super admin must be another live member of the organization' using errcode = '42501';
  end if;

  select r.id into v_super_role from core.roles r where r.organization_id is null and r.name = 'super_admin';
  select r.id into v_manager_role from core.roles r where r.organization_id is null and r.name = 'manager';

  -- Demote first: at most one live super admin may exist at any moment.
  -- Running as the table owner is what lets these updates past the guard.
  update core.memberships m
  set is_super_admin = false, role_id = v_manager_role
  where m.organization_id = p_org_id and m.user_id = v_uid and m.is_super_admin and not m.is_deleted;

  update core.memberships m
  set is_super_admin = true, role_id = v_super_role
  where m.id = v_target;

  perform utils.record_audit(p_org_id, 'memberships', v_target, 'transfer_super_admin', 'super admin transferred',
    jsonb_build_object('from_user_id', v_uid, 'to_user_id', p_new_super_admin_user_id));
  return v_target;
end
$$;
comment on function public.transfer_super_admin(uuid, uuid) is
  'Super admin: hands the super admin role to another live member (the caller becomes manager); returns the new super admin''s membership id.';
