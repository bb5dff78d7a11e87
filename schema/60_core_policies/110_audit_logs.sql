-- Policies on core.audit_logs: members read their organization's trail.
-- There is deliberately no INSERT, UPDATE or DELETE policy: rows come only
-- from utils.record_audit and never change.

create policy audit_logs_select_members on core.audit_logs
  for select to app_user
  using (core.is_org_member(organization_id));
comment on policy audit_logs_select_members on core.audit_logs is 'Members read the audit trail of their live organization.';
