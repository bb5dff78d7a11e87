-- Grants, core layer: table privileges and the RLS helpers.
--
-- app_user gets exactly the privileges SPEC section 3 implies, and RLS narrows
-- them to rows. UPDATE is granted per column: ids, tenant keys (an UPDATE can
-- never move a row to another organization), created_by, the std bookkeeping
-- columns (is_deleted and friends: soft deletes go through definer RPCs) and
-- is_super_admin are never client-writable. INSERT column lists leave out
-- created_by (stamped by trigger; organizations excepted, where the policy
-- pins it to the caller), the std columns and anything a trigger generates
-- (invitation token, status, accepted_*). No DELETE, TRUNCATE, REFERENCES or
-- TRIGGER for clients anywhere.
--
-- app_admin (the service) has everything on core except audit_logs, which it
-- may only read.

revoke all on all tables in schema core from public, app_user, app_admin;

grant select on core.organizations to app_user;
grant insert (id, name, description, created_by) on core.organizations to app_user;
grant update (name, description) on core.organizations to app_user;

grant select on core.organizations_meta to app_user;
grant update (logo_file_id, address, timezone, locale) on core.organizations_meta to app_user;

grant select on core.organization_files to app_user;
grant insert (id, organization_id, file_url, file_type, file_specs, file_size) on core.organization_files to app_user;
grant update (file_url, file_type, file_specs, file_size) on core.organization_files to app_user;

grant select on core.units to app_user;
grant insert (id, organization_id, name, description) on core.units to app_user;
grant update (name, description) on core.units to app_user;

grant select on core.unit_meta to app_user;
grant update (notes) on core.unit_meta to app_user;

grant select on core.roles to app_user;
grant insert (id, organization_id, name, description, casl_rules) on core.roles to app_user;
grant update (name, description, casl_rules) on core.roles to app_user;

grant select on core.memberships to app_user;
grant insert (id, user_id, organization_id, role_id) on core.memberships to app_user;
grant update (role_id) on core.memberships to app_user;

grant select on core.unit_memberships to app_user;
grant insert (id, user_id, unit_id, role_id) on core.unit_memberships to app_user;
grant update (role_id) on core.unit_memberships to app_user;

grant select on core.invitations to app_user;
grant insert (id, email, organization_id, unit_id, role_id, invited_by, expires_at, metadata) on core.invitations to app_user;
grant update (role_id, status, expires_at, metadata, accepted_by) on core.invitations to app_user;

grant select on core.audit_logs to app_user;

grant select on core.users_meta to app_user;
grant update (first_name, last_name, avatar_url, timezone, locale) on core.users_meta to app_user;

grant all on
  core.organizations, core.organizations_meta, core.organization_files, core.units, core.unit_meta,
  core.roles, core.memberships, core.unit_memberships, core.invitations, core.users_meta
  to app_admin;
grant select on core.audit_logs to app_admin;

-- Identity and RLS helpers: policies evaluate them as the querying role.
grant execute on function core.get_current_user_id() to app_user, app_admin;
grant execute on function core.is_org_member(uuid) to app_user, app_admin;
grant execute on function core.is_super_admin(uuid) to app_user, app_admin;
grant execute on function core.get_org_role(uuid) to app_user, app_admin;
grant execute on function core.has_org_role(uuid, text) to app_user, app_admin;
grant execute on function core.shares_organization(uuid) to app_user, app_admin;
grant execute on function core.is_org_active(uuid) to app_user, app_admin;
grant execute on function core.current_user_email() to app_user, app_admin;
grant execute on function core.is_assignable_role(uuid, uuid) to app_user, app_admin;
grant execute on function core.get_org_id_for_unit(uuid) to app_user, app_admin;
grant execute on function core.is_unit_member(uuid) to app_user, app_admin;
grant execute on function core.is_org_member_for_unit(uuid) to app_user, app_admin;
grant execute on function core.is_org_super_admin_for_unit(uuid) to app_user, app_admin;
