-- Policies on core.unit_memberships: members of the unit's organization see
-- unit membership, a user always sees their own rows on a live unit, and the
-- organization's super admin adds members and changes their unit roles.

create policy unit_memberships_select_org_members_or_self on core.unit_memberships
  for select to app_user
  using (
    not is_deleted
    and (core.is_org_member_for_unit(unit_id)
         or (user_id = core.get_current_user_id() and core.get_org_id_for_unit(unit_id) is not null)));
comment on policy unit_memberships_select_org_members_or_self on core.unit_memberships is
  'Members of the unit''s organization, and the user themselves, read live unit memberships of live units.';

create policy unit_memberships_insert_super_admin on core.unit_memberships
  for insert to app_user
  with check (
    not is_deleted
    and core.is_org_super_admin_for_unit(unit_id)
    and core.is_assignable_role(role_id, core.get_org_id_for_unit(unit_id)));
comment on policy unit_memberships_insert_super_admin on core.unit_memberships is
  'The super admin of the unit''s organization adds unit members (role global non-super_admin or of that organization).';

create policy unit_memberships_update_super_admin on core.unit_memberships
  for update to app_user
  using (not is_deleted and core.is_org_super_admin_for_unit(unit_id))
  with check (
    not is_deleted
    and core.is_org_super_admin_for_unit(unit_id)
    and core.is_assignable_role(role_id, core.get_org_id_for_unit(unit_id)));
comment on policy unit_memberships_update_super_admin on core.unit_memberships is
  'The super admin of the unit''s organization changes unit roles.';
