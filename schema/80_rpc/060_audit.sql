-- RPCs: reading the audit trail. SECURITY INVOKER: the audit_logs policy
-- (member of the organization) decides what is returned.

create or replace function public.get_audit_log(p_org_id uuid, p_limit integer default 100)
returns table (
  id              uuid,
  organization_id uuid,
  actor_id        uuid,
  target_table    text,
  target_id       uuid,
  action          text,
  summary         text,
  metadata        jsonb,
  created_at      timestamptz
)
  language sql stable
  set search_path = ''
as $$
  select a.id, a.organization_id, a.actor_id, a.target_table, a.target_id, a.action, a.summary, a.metadata, a.created_at
  from core.audit_logs a
  where a.organization_id = p_org_id
  order by a.created_at desc, a.id
  -- NULL means the default; the page is clamped to 1 .. 1000 rows.
  limit greatest(1, least(coalesce(p_limit, 100), 1000))
$$;
comment on function public.get_audit_log(uuid, integer) is
  'Newest audit rows of an organization the caller belongs to (p_limit default 100, clamped to 1..1000).';
