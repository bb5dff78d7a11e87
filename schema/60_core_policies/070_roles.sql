-- Policies on core.roles: the global built-ins are readable by every
-- identified client; an organization's own roles by its members, and only its
-- super admin creates or edits them. Global roles are never writable by
-- clients (organization_id IS NULL fails every write policy).

create policy roles_select_global_or_members on core.roles
  for select to app_user
  using (not is_deleted and (organization_id is null or core.is_org_member(organization_id)));
comment on policy roles_select_global_or_members on core.roles is 'Global roles for everyone; organization roles for its members.';

create policy roles_insert_super_admin on core.roles
  for insert to app_user
  with check (not is_deleted and organization_id is not null and core.is_super_admin(organization_id));
comment on policy roles_insert_super_admin on core.roles is 'The super admin creates roles scoped to the organization.';

create policy roles_update_super_admin on core.roles
  for update to app_user
  using (not is_deleted and organization_id is not null and core.is_super_admin(organization_id))
  with check (not is_deleted and organization_id is not null and core.is_super_admin(organization_id));
comment on policy roles_update_super_admin on core.roles is 'The super admin edits the organization''s roles.';
