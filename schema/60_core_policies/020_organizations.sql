-- Policies on core.organizations: members read, anyone identified may create
-- one in their own name, the super admin edits. Soft deletion is done by
-- public.delete_organization (definer), never by a client UPDATE.

create policy organizations_select_members on core.organizations
  for select to app_user
  using (not is_deleted and core.is_org_member(id));
comment on policy organizations_select_members on core.organizations is 'Members read their live organizations.';

create policy organizations_insert_self_created on core.organizations
  for insert to app_user
  with check (not is_deleted and created_by = core.get_current_user_id());
comment on policy organizations_insert_self_created on core.organizations is
  'A user creates organizations only in their own name (created_by = themselves).';

create policy organizations_update_super_admin on core.organizations
  for update to app_user
  using (not is_deleted and core.is_super_admin(id))
  with check (not is_deleted and core.is_super_admin(id));
comment on policy organizations_update_super_admin on core.organizations is 'The super admin edits the organization.';
