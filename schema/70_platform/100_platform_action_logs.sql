-- platform.platform_action_logs: what the operator's staff did (support
-- impersonation, plan changes, ...), kept apart from tenants' audit_logs.
-- Service only.
--
-- Columns chosen: actor_id (platform user), action, target_table, target_id,
-- organization_id (the tenant concerned, if any; no foreign key so the log
-- outlives the tenant), details (jsonb), created_at.

create table platform.platform_action_logs (
  id              uuid primary key default gen_random_uuid(),
  actor_id        uuid,
  action          text not null,
  target_table    text,
  target_id       uuid,
  organization_id uuid,
  details         jsonb not null default '{}'::jsonb,
  created_at      timestamptz not null default now()
);

comment on table platform.platform_action_logs is 'Actions of operator staff: actor, action, target, tenant concerned, details.';

create index platform_action_logs_organization_id_idx on platform.platform_action_logs (organization_id);
comment on index platform.platform_action_logs_organization_id_idx is 'Tenant key lookup.';
create index platform_action_logs_actor_id_idx on platform.platform_action_logs (actor_id);
comment on index platform.platform_action_logs_actor_id_idx is 'Actor lookup.';

alter table platform.platform_action_logs enable row level security;
