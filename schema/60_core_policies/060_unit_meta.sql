-- Policies on core.unit_meta: members of the unit's organization read it;
-- the unit's own members and the organization's super admin edit it. The
-- helpers return false for a unit (or organization) that is soft-deleted.

create policy unit_meta_select_org_members on core.unit_meta
  for select to app_user
  using (not is_deleted and core.is_org_member_for_unit(id));
comment on policy unit_meta_select_org_members on core.unit_meta is 'Members of the unit''s organization read its details.';

create policy unit_meta_update_unit_members on core.unit_meta
  for update to app_user
  using (not is_deleted and (core.is_unit_member(id) or core.is_org_super_admin_for_unit(id)))
  with check (not is_deleted and (core.is_unit_member(id) or core.is_org_super_admin_for_unit(id)));
comment on policy unit_meta_update_unit_members on core.unit_meta is 'Unit members and the organization''s super admin edit unit details.';
