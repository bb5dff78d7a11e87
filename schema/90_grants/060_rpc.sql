-- Grants, RPC layer: every public function, by full signature, to app_user
-- (clients) and app_admin (the backend may call the same entry points).
-- Anonymous access to the two open RPCs is granted in 900_supabase.sql.

grant execute on function
  public.get_user_profile(),
  public.update_user_profile(text, text),

  public.create_organization(text, text),
  public.list_my_organizations(),
  public.get_user_organizations(),
  public.get_organization(uuid),
  public.update_organization(uuid, text, text),
  public.update_organization_meta(uuid, uuid, text, text, text),
  public.delete_organization(uuid),
  public.list_organization_members(uuid),
  public.get_user_role(uuid),
  public.get_user_permissions(uuid),
  public.add_member_to_organization(uuid, uuid, uuid),
  public.update_member_role(uuid, uuid, uuid),
  public.remove_member_from_organization(uuid, uuid),
  public.remove_user_from_organization(uuid, uuid),
  public.transfer_super_admin(uuid, uuid),

  public.create_unit(uuid, text, text),
  public.update_unit(uuid, text, text),
  public.delete_unit(uuid),
  public.get_unit(uuid),
  public.list_units(uuid),
  public.list_my_units(),
  public.get_user_units(uuid),
  public.list_unit_members(uuid),
  public.add_member_to_unit(uuid, uuid, uuid),
  public.update_unit_member_role(uuid, uuid, uuid),
  public.remove_member_from_unit(uuid, uuid),
  public.assign_user_to_unit(uuid, uuid, uuid),
  public.remove_user_from_unit(uuid, uuid),
  public.get_user_unit_permissions(uuid),

  public.create_file(uuid, text, text, integer, jsonb),
  public.update_file_metadata(uuid, jsonb, integer),
  public.get_file(uuid),
  public.list_files(uuid),
  public.delete_file(uuid),

  public.get_audit_log(uuid, integer),

  public.create_invitation(text, uuid, uuid, uuid, jsonb),
  public.accept_invitation(text),
  public.cancel_invitation(uuid),
  public.resend_invitation(uuid),
  public.list_invitations(uuid, text),
  public.get_invitation_details(text),

  public.create_secret(text, uuid, text, text),
  public.delete_secret(uuid),
  public.list_secrets(text, uuid),

  public.list_subscription_products()
to app_user, app_admin;
