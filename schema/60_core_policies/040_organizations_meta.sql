-- Policies on core.organizations_meta: members read, the super admin edits.
-- The row is created by the organization trigger, so there is no INSERT
-- policy. The logo must be a live file of the same organization: a pointer to
-- another tenant's file would leak it through the logo.

create policy organizations_meta_select_members on core.organizations_meta
  for select to app_user
  using (not is_deleted and core.is_org_member(id));
comment on policy organizations_meta_select_members on core.organizations_meta is 'Members read their organization''s settings.';

create policy organizations_meta_update_super_admin on core.organizations_meta
  for update to app_user
  using (not is_deleted and core.is_super_admin(id))
  with check (
    not is_deleted
    and core.is_super_admin(id)
    and (logo_file_id is null or exists (
      select 1 from core.organization_files f
      where f.id = logo_file_id and f.organization_id = organizations_meta.id and not f.is_deleted)));
comment on policy organizations_meta_update_super_admin on core.organizations_meta is
  'The super admin edits settings; the logo must be a live file of the same organization.';
