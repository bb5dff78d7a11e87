-- The single writer of core.audit_logs.
--
-- Audit rows must describe who did what; the actor therefore comes from the
-- request identity, never from an argument, and a change without an identity
-- cannot be audited (so it is refused). SECURITY DEFINER because nobody, the
-- service included, holds INSERT on core.audit_logs. The table is created in
-- 40_core/; PL/pgSQL resolves it at call time.

create or replace function utils.record_audit(
  p_organization_id uuid,
  p_target_table    text,
  p_target_id       uuid,
  p_action          text,
  p_summary         text,
  p_metadata        jsonb
) returns uuid
  language plpgsql security definer
  set search_path = ''
as $$
declare
  v_actor uuid := core.get_current_user_id();
  v_id    uuid;
begin
  if v_actor is null then
    raise exception 'audit refused: no user identity for this change'
      using errcode = '42501';
  end if;

  insert into core.audit_logs (actor_id, organization_id, target_table, target_id, action, summary, metadata)
  values (v_actor, p_organization_id, p_target_table, p_target_id, p_action, p_summary,
          coalesce(p_metadata, '{}'::jsonb))
  returning id into v_id;

  return v_id;
end
$$;

comment on function utils.record_audit(uuid, text, uuid, text, text, jsonb) is
  'Appends one audit row; the actor is the current user (required), never an argument.';
