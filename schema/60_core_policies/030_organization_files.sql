-- Policies on core.organization_files: files are shared content, so any
-- member reads, adds and edits them; the tenant key cannot be changed
-- (no column grant) and deletion goes through public.delete_file.

create policy organization_files_select_members on core.organization_files
  for select to app_user
  using (not is_deleted and core.is_org_member(organization_id));
comment on policy organization_files_select_members on core.organization_files is 'Members read their organization''s live files.';

create policy organization_files_insert_members on core.organization_files
  for insert to app_user
  with check (not is_deleted and core.is_org_member(organization_id));
comment on policy organization_files_insert_members on core.organization_files is 'Members add files to their organization.';

create policy organization_files_update_members on core.organization_files
  for update to app_user
  using (not is_deleted and core.is_org_member(organization_id))
  with check (not is_deleted and core.is_org_member(organization_id));
comment on policy organization_files_update_members on core.organization_files is 'Members edit their organization''s files.';
