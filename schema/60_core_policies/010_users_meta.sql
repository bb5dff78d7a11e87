-- Policies on core.users_meta (SPEC section 3): a user reads their own
-- profile and those of people they share an organization with, and edits only
-- their own (column grants exclude email). Profiles are created by the
-- identity adapter or the service, never by clients, hence no INSERT policy.

create policy users_meta_select_self_or_shared on core.users_meta
  for select to app_user
  using (not is_deleted and (id = core.get_current_user_id() or core.shares_organization(id)));
comment on policy users_meta_select_self_or_shared on core.users_meta is
  'Users read their own profile and profiles of users sharing a live organization.';

create policy users_meta_update_self on core.users_meta
  for update to app_user
  using (not is_deleted and id = core.get_current_user_id())
  with check (not is_deleted and id = core.get_current_user_id());
comment on policy users_meta_update_self on core.users_meta is 'Users edit only their own profile.';
