-- Unit-level RLS helpers.
--
-- Same conventions as 010_organization_helpers.sql. A unit is on a live
-- tenant path when neither it nor its organization is soft-deleted; every
-- helper here answers false (or NULL) for a unit that is not.
--
-- unit member(U, X): a live unit membership of U in the live unit X, and
-- member(U, unit_org(X)); a unit membership of someone who left the
-- organization grants nothing.

create or replace function core.get_org_id_for_unit(p_unit_id uuid) returns uuid
  language sql stable security definer
  set search_path = ''
as $$
  select u.organization_id
  from core.units u
  join core.organizations o on o.id = u.organization_id
  where u.id = p_unit_id
    and not u.is_deleted
    and not o.is_deleted
$$;
comment on function core.get_org_id_for_unit(uuid) is
  'Organization of unit p_unit_id when both are live; NULL otherwise.';

create or replace function core.is_unit_member(p_unit_id uuid) returns boolean
  language sql stable security definer
  set search_path = ''
as $$
  select exists (
    select 1
    from core.unit_memberships um
    join core.units u on u.id = um.unit_id
    join core.organizations o on o.id = u.organization_id
    join core.memberships m on m.organization_id = u.organization_id and m.user_id = um.user_id
    where um.unit_id = p_unit_id
      and um.user_id = core.get_current_user_id()
      and not um.is_deleted
      and not u.is_deleted
      and not o.is_deleted
      and not m.is_deleted)
$$;
comment on function core.is_unit_member(uuid) is
  'True when the current user has a live unit membership in live unit p_unit_id and is a live member of its organization.';

create or replace function core.is_org_member_for_unit(p_unit_id uuid) returns boolean
  language sql stable security definer
  set search_path = ''
as $$
  select core.is_org_member(core.get_org_id_for_unit(p_unit_id))
$$;
comment on function core.is_org_member_for_unit(uuid) is
  'True when unit p_unit_id is live and the current user is a member of its organization.';

create or replace function core.is_org_super_admin_for_unit(p_unit_id uuid) returns boolean
  language sql stable security definer
  set search_path = ''
as $$
  select core.is_super_admin(core.get_org_id_for_unit(p_unit_id))
$$;
comment on function core.is_org_super_admin_for_unit(uuid) is
  'True when unit p_unit_id is live and the current user is the super admin of its organization.';
