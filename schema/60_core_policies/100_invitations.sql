-- Policies on core.invitations.
--
-- Readers: the organization's super admin, the inviter, and the invitee (a
-- pending invitation addressed to their profile email, case-insensitively, or
-- one they accepted: PostgreSQL checks an updated row against SELECT
-- policies, so without that clause an invitee could never accept).
-- Writers: any member invites, in their own name, never to the super_admin
-- role; the super admin and the inviter edit or cancel; the invitee only
-- accepts (enforced precisely by core.guard_invitation_update).
-- The inviter's rights last only while they are a member: someone removed from
-- the organization must not keep reading, resending (a fresh token comes back)
-- or editing its invitations — that would be a way back in.
-- The whole tenant path must be live: organization and, if set, unit.

create policy invitations_select_involved on core.invitations
  for select to app_user
  using (
    not is_deleted
    and core.is_org_active(organization_id)
    and (unit_id is null or core.get_org_id_for_unit(unit_id) is not null)
    and (core.is_super_admin(organization_id)
         or (invited_by = core.get_current_user_id() and core.is_org_member(organization_id))
         or accepted_by = core.get_current_user_id()
         or (status = 'pending' and lower(email) = lower(core.current_user_email()))));
comment on policy invitations_select_involved on core.invitations is
  'Super admin, inviter (while a member), and invitee (pending and addressed to their email, or accepted by them) read an invitation.';

create policy invitations_insert_members on core.invitations
  for insert to app_user
  with check (
    not is_deleted
    and status = 'pending'
    and invited_by = core.get_current_user_id()
    and core.is_org_member(organization_id)
    and core.is_assignable_role(role_id, organization_id)
    and (unit_id is null or core.get_org_id_for_unit(unit_id) = organization_id));
comment on policy invitations_insert_members on core.invitations is
  'Members invite in their own name, with a role other than super_admin and a unit of the same organization.';

create policy invitations_update_involved on core.invitations
  for update to app_user
  using (
    not is_deleted
    and core.is_org_active(organization_id)
    and (unit_id is null or core.get_org_id_for_unit(unit_id) is not null)
    and (core.is_super_admin(organization_id)
         or (invited_by = core.get_current_user_id() and core.is_org_member(organization_id))
         or (status = 'pending' and lower(email) = lower(core.current_user_email()))))
  with check (
    not is_deleted
    and core.is_assignable_role(role_id, organization_id)
    and (core.is_super_admin(organization_id)
         or (invited_by = core.get_current_user_id() and core.is_org_member(organization_id))
         or (status = 'accepted' and accepted_by = core.get_current_user_id())));
comment on policy invitations_update_involved on core.invitations is
  'Super admin and inviter edit invitations; the invitee may only accept (see core.guard_invitation_update).';
