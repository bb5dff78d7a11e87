-- RPCs: organizations (create, read, edit, delete) and the caller's role
-- and permissions in one.
--
-- Mutating functions are SECURITY DEFINER with an empty search_path: each
-- first resolves the caller (42501 without identity), then checks the right
-- the access model requires (42501 otherwise, with the same error whether the
-- target is missing, soft-deleted or another tenant's, so existence is not
-- revealed), then acts and writes one audit row. Reads are SECURITY INVOKER:
-- RLS decides what they return.

create or replace function public.create_organization(p_name text, p_description text default null)
returns uuid
  language plpgsql security definer
  set search_path = ''
as $$
declare
  v_uid uuid := utils.require_user_id();
  v_id  uuid;
begin
  if not exists (select 1 from core.users_meta u where u.id = v_uid and not u.is_deleted) then
    raise exception 'the current user has no profile' using errcode = '42501';
  end if;
  if p_name is null or btrim(p_name) = '' then
    raise exception 'an organization name is required' using errcode = '22023';
  end if;

  -- The insert trigger makes the caller super admin and creates meta rows.
  insert into core.organizations (name, description, created_by)
  values (p_name, p_description, v_uid)
  returning id into v_id;

  perform utils.record_audit(v_id, 'organizations', v_id, 'create', 'organization created',
    jsonb_build_object('name', p_name));
  return v_id;
end
$$;
comment on function public.create_organization(text, text) is
  'Creates an organization with the caller as super admin; returns its id.';

create or replace function public.list_my_organizations()
returns table (
  id             uuid,
  name           text,
  description    text,
  is_super_admin boolean,
  role_id        uuid,
  role_name      text,
  created_at     timestamptz
)
  language sql stable
  set search_path = ''
as $$
  select o.id, o.name, o.description, m.is_super_admin, m.role_id, r.name, o.created_at
  from core.memberships m
  join core.organizations o on o.id = m.organization_id
  left join core.roles r on r.id = m.role_id
  where m.user_id = core.get_current_user_id()
    and not m.is_deleted
    and not o.is_deleted
  order by o.name, o.id
$$;
comment on function public.list_my_organizations() is
  'Organizations the caller is a live member of, with the caller''s role.';

create or replace function public.get_user_organizations()
returns table (
  id             uuid,
  name           text,
  description    text,
  is_super_admin boolean,
  role_id        uuid,
  role_name      text,
  created_at     timestamptz
)
  language sql stable
  set search_path = ''
as $$
  select l.id, l.name, l.description, l.is_super_admin, l.role_id, l.role_name, l.created_at
  from public.list_my_organizations() as l
$$;
comment on function public.get_user_organizations() is
  'Same as list_my_organizations() (SMTA''s older name).';

create or replace function public.get_organization(p_id uuid)
returns table (
  id           uuid,
  name         text,
  description  text,
  created_by   uuid,
  created_at   timestamptz,
  updated_at   timestamptz,
  logo_file_id uuid,
  address      text,
  timezone     text,
  locale       text
)
  language sql stable
  set search_path = ''
as $$
  select o.id, o.name, o.description, o.created_by, o.created_at, o.updated_at,
         om.logo_file_id, om.address, om.timezone, om.locale
  from core.organizations o
  left join core.organizations_meta om on om.id = o.id and not om.is_deleted
  where o.id = p_id and not o.is_deleted
$$;
comment on function public.get_organization(uuid) is
  'One organization with its settings, if the caller may read it (zero or one row).';

create or replace function public.update_organization(p_id uuid, p_name text, p_description text)
returns uuid
  language plpgsql security definer
  set search_path = ''
as $$
declare
  v_uid uuid := utils.require_user_id();
begin
  if not core.is_super_admin(p_id) then
    raise exception 'only the super admin of the organization can update it' using errcode = '42501';
  end if;
  if p_name is not null and btrim(p_name) = '' then
    raise exception 'an organization name cannot be empty' using errcode = '22023';
  end if;

  update core.organizations o
  set name = coalesce(p_name, o.name),
      description = coalesce(p_description, o.description)
  where o.id = p_id;

  perform utils.record_audit(p_id, 'organizations', p_id, 'update', 'organization updated',
    jsonb_build_object('name', p_name, 'description', p_description));
  return p_id;
end
$$;
comment on function public.update_organization(uuid, text, text) is
  'Super admin: renames / redescribes the organization (NULL keeps a field); returns its id.';

create or replace function public.update_organization_meta(
  p_id uuid, p_logo_file_id uuid, p_address text, p_timezone text, p_locale text)
returns uuid
  language plpgsql security definer
  set search_path = ''
as $$
declare
  v_uid uuid := utils.require_user_id();
begin
  if not core.is_super_admin(p_id) then
    raise exception 'only the super admin of the organization can update its settings' using errcode = '42501';
  end if;
  if p_logo_file_id is not null and not exists (
    select 1 from core.organization_files f
    where f.id = p_logo_file_id and f.organization_id = p_id and not f.is_deleted) then
    raise exception 'the logo must be a file of this organization' using errcode = '42501';
  end if;

  update core.organizations_meta om
  set logo_file_id = coalesce(p_logo_file_id, om.logo_file_id),
      address      = coalesce(p_address, om.address),
      timezone     = coalesce(p_timezone, om.timezone),
      locale       = coalesce(p_locale, om.locale)
  where om.id = p_id;

  perform utils.record_audit(p_id, 'organizations_meta', p_id, 'update', 'organization settings updated',
    jsonb_build_object('logo_file_id', p_logo_file_id, 'address', p_address, 'timezone', p_timezone, 'locale', p_locale));
  return p_id;
end
$$;
comment on function public.update_organization_meta(uuid, uuid, text, text, text) is
  'Super admin: updates the organization''s settings (NULL keeps a field); returns the organization id.';

create or replace function public.delete_organization(p_id uuid)
returns uuid
  language plpgsql security definer
  set search_path = ''
as $$
declare
  v_uid uuid := utils.require_user_id();
begin
  if not core.is_super_admin(p_id) then
    raise exception 'only the super admin of the organization can delete it' using errcode = '42501';
  end if;

  -- Soft delete of the tenant row only: everything below it disappears for
  -- clients because every policy checks the organization is live.
  perform utils.soft_delete('core.organizations', p_id);

  perform utils.record_audit(p_id, 'organizations', p_id, 'delete', 'organization deleted', '{}'::jsonb);
  return p_id;
end
$$;
comment on function public.delete_organization(uuid) is
  'Super admin: soft-deletes the organization (and so hides all its rows); returns its id.';

create or replace function public.get_user_role(p_org_id uuid)
returns text
  language sql stable
  set search_path = ''
as $$
  select core.get_org_role(p_org_id)
$$;
comment on function public.get_user_role(uuid) is
  'The caller''s role name in the organization (''super_admin'' for its super admin); NULL when not a member.';

create or replace function public.get_user_permissions(p_org_id uuid)
returns jsonb
  language sql stable
  set search_path = ''
as $$
  select case
    when m.is_super_admin then coalesce(r.casl_rules, '[{"action": "manage", "subject": "all"}]'::jsonb)
    else coalesce(r.casl_rules, '[]'::jsonb)
  end
  from core.memberships m
  join core.organizations o on o.id = m.organization_id
  left join core.roles r on r.id = m.role_id
  where m.organization_id = p_org_id
    and m.user_id = core.get_current_user_id()
    and not m.is_deleted
    and not o.is_deleted
$$;
comment on function public.get_user_permissions(uuid) is
  'CASL rules of the caller''s role in the organization ([] for a member without role); NULL when not a member.';
