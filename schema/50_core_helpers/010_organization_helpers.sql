-- Organization-level RLS helpers: membership, super admin, role.
--
-- Policies call these instead of querying memberships directly. They are
-- SECURITY DEFINER so that they read memberships and organizations without
-- going through those tables' own policies (which would recurse), STABLE, and
-- pinned to an empty search_path with every name qualified. Each answers only
-- about the current user (core.get_current_user_id()), never about someone
-- else, so granting EXECUTE to app_user reveals nothing about other tenants.
--
-- member(U, O): a live membership of U in O, and O itself not soft-deleted.

create or replace function core.is_org_member(p_org_id uuid) returns boolean
  language sql stable security definer
  set search_path = ''
as $$
  select exists (
    select 1
    from core.memberships m
    join core.organizations o on o.id = m.organization_id
    where m.organization_id = p_org_id
      and m.user_id = core.get_current_user_id()
      and not m.is_deleted
      and not o.is_deleted)
$$;
comment on function core.is_org_member(uuid) is
  'True when the current user has a live membership in the live organization p_org_id.';

create or replace function core.is_super_admin(p_org_id uuid) returns boolean
  language sql stable security definer
  set search_path = ''
as $$
  select exists (
    select 1
    from core.memberships m
    join core.organizations o on o.id = m.organization_id
    where m.organization_id = p_org_id
      and m.user_id = core.get_current_user_id()
      and m.is_super_admin
      and not m.is_deleted
      and not o.is_deleted)
$$;
comment on function core.is_super_admin(uuid) is
  'True when the current user is the live super admin of the live organization p_org_id.';

create or replace function core.get_org_role(p_org_id uuid) returns text
  language sql stable security definer
  set search_path = ''
as $$
  select case when m.is_super_admin then 'super_admin' else r.name end
  from core.memberships m
  join core.organizations o on o.id = m.organization_id
  left join core.roles r on r.id = m.role_id and not r.is_deleted
  where m.organization_id = p_org_id
    and m.user_id = core.get_current_user_id()
    and not m.is_deleted
    and not o.is_deleted
$$;
comment on function core.get_org_role(uuid) is
  'Name of the current user''s role in organization p_org_id (''super_admin'' for its super admin); NULL when not a member.';

create or replace function core.has_org_role(p_org_id uuid, p_role text) returns boolean
  language sql stable security definer
  set search_path = ''
as $$
  select coalesce(core.get_org_role(p_org_id) = p_role, false)
$$;
comment on function core.has_org_role(uuid, text) is
  'True when the current user''s role name in organization p_org_id equals p_role.';

create or replace function core.shares_organization(p_user_id uuid) returns boolean
  language sql stable security definer
  set search_path = ''
as $$
  select exists (
    select 1
    from core.memberships mine
    join core.memberships theirs on theirs.organization_id = mine.organization_id
    join core.organizations o on o.id = mine.organization_id
    where mine.user_id = core.get_current_user_id()
      and theirs.user_id = p_user_id
      and not mine.is_deleted
      and not theirs.is_deleted
      and not o.is_deleted)
$$;
comment on function core.shares_organization(uuid) is
  'True when the current user and p_user_id are both live members of some live organization.';

create or replace function core.is_org_active(p_org_id uuid) returns boolean
  language sql stable security definer
  set search_path = ''
as $$
  select exists (select 1 from core.organizations o where o.id = p_org_id and not o.is_deleted)
$$;
comment on function core.is_org_active(uuid) is
  'True when organization p_org_id exists and is not soft-deleted (tenant-path check for non-members such as invitees).';

create or replace function core.current_user_email() returns text
  language sql stable security definer
  set search_path = ''
as $$
  select u.email from core.users_meta u where u.id = core.get_current_user_id() and not u.is_deleted
$$;
comment on function core.current_user_email() is
  'Email of the current user''s live profile (what invitations are matched against); NULL when none.';

create or replace function core.is_assignable_role(p_role_id uuid, p_org_id uuid) returns boolean
  language sql stable security definer
  set search_path = ''
as $$
  select p_role_id is null or exists (
    select 1
    from core.roles r
    where r.id = p_role_id
      and not r.is_deleted
      and ((r.organization_id is null and r.name <> 'super_admin') or r.organization_id = p_org_id))
$$;
comment on function core.is_assignable_role(uuid, uuid) is
  'True when p_role_id may be given to a member of p_org_id: NULL, a global role other than super_admin, or a live role of that organization.';
