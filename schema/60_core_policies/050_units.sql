-- Policies on core.units: members of the organization read, create and edit
-- units. Column grants keep organization_id fixed, so a unit never moves to
-- another tenant. Soft deletion goes through public.delete_unit.

create policy units_select_members on core.units
  for select to app_user
  using (not is_deleted and core.is_org_member(organization_id));
comment on policy units_select_members on core.units is 'Members read the live units of their organization.';

create policy units_insert_members on core.units
  for insert to app_user
  with check (not is_deleted and core.is_org_member(organization_id));
comment on policy units_insert_members on core.units is 'Members create units in their organization.';

create policy units_update_members on core.units
  for update to app_user
  using (not is_deleted and core.is_org_member(organization_id))
  with check (not is_deleted and core.is_org_member(organization_id));
comment on policy units_update_members on core.units is 'Members edit the units of their organization.';
