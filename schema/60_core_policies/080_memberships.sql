-- Policies on core.memberships: members see who else is in their
-- organization; the super admin adds members and changes their roles.
-- Together with the column grants (only role_id is updatable) and the guard
-- trigger, nobody sets is_super_admin, changes their own role or hands out
-- the super_admin role: that happens only in public.transfer_super_admin.
-- A user's own live row in a live organization is covered by member(U, O).

create policy memberships_select_members on core.memberships
  for select to app_user
  using (not is_deleted and core.is_org_member(organization_id));
comment on policy memberships_select_members on core.memberships is 'Members (the user included) read the live memberships of their organization.';

create policy memberships_insert_super_admin on core.memberships
  for insert to app_user
  with check (
    not is_deleted
    and not is_super_admin
    and core.is_super_admin(organization_id)
    and core.is_assignable_role(role_id, organization_id));
comment on policy memberships_insert_super_admin on core.memberships is
  'The super admin adds members, with a global (not super_admin) or own-organization role.';

create policy memberships_update_super_admin on core.memberships
  for update to app_user
  using (
    not is_deleted
    and core.is_super_admin(organization_id)
    and user_id <> core.get_current_user_id())
  with check (
    not is_deleted
    and not is_super_admin
    and core.is_super_admin(organization_id)
    and user_id <> core.get_current_user_id()
    and core.is_assignable_role(role_id, organization_id));
comment on policy memberships_update_super_admin on core.memberships is
  'The super admin changes other members'' roles (never their own row, never to super_admin).';
