-- core.audit_logs: the append-only record of changes made through SMTA.
--
-- Rows are written only by utils.record_audit (SECURITY DEFINER); nobody holds
-- INSERT, UPDATE, DELETE or TRUNCATE on the table. Immutability is enforced by
-- triggers as well, because privileges do not bind the table owner or a
-- superuser-owned migration: every UPDATE, DELETE and TRUNCATE statement
-- raises, for every role, even when it would touch no row. The foreign key to
-- organizations has no cascade on purpose: an organization with an audit
-- trail cannot be hard-deleted (SMTA deletes softly).

create table core.audit_logs (
  id              uuid primary key default gen_random_uuid(),
  actor_id        uuid not null,
  organization_id uuid references core.organizations (id),
  target_table    text not null,
  target_id       uuid,
  action          text not null,
  summary         text,
  metadata        jsonb not null default '{}'::jsonb,
  created_at      timestamptz not null default now(),
  constraint audit_logs_organization_required check (
    organization_id is not null or target_table in ('users_meta', 'tenant_secrets'))
);

comment on table core.audit_logs is
  'Append-only audit trail: who (actor_id) did what (action) to which row, in which organization.';
comment on constraint audit_logs_organization_required on core.audit_logs is
  'Only changes that belong to no organization (profiles, user-scoped secrets) may omit organization_id.';

create index audit_logs_organization_id_created_at_idx on core.audit_logs (organization_id, created_at desc);
comment on index core.audit_logs_organization_id_created_at_idx is 'Tenant key / foreign key lookup, newest first.';
create index audit_logs_actor_id_idx on core.audit_logs (actor_id);
comment on index core.audit_logs_actor_id_idx is 'Actor lookup.';

create or replace function core.reject_audit_log_change() returns trigger
  language plpgsql
  set search_path = ''
as $$
begin
  raise exception 'core.audit_logs is append-only: % is not allowed', tg_op
    using errcode = '42501';
end
$$;

comment on function core.reject_audit_log_change() is
  'Trigger function that always raises: audit rows are never updated, deleted or truncated.';

-- The statement-level trigger refuses even statements that match no row; the
-- row-level one also stops a statement that somehow escaped it (for example a
-- disabled statement trigger left behind by a migration).
create trigger audit_logs_immutable_statement before update or delete or truncate on core.audit_logs
  for each statement execute function core.reject_audit_log_change();
comment on trigger audit_logs_immutable_statement on core.audit_logs is 'Refuses every UPDATE, DELETE and TRUNCATE statement.';

create trigger audit_logs_immutable_row before update or delete on core.audit_logs
  for each row execute function core.reject_audit_log_change();
comment on trigger audit_logs_immutable_row on core.audit_logs is 'Refuses every row update and delete.';

-- ENABLE ALWAYS: ordinary triggers do not fire while session_replication_role
-- is 'replica', which the owner can set when it is a superuser (and which
-- managed services let their admin role set for bulk imports); one SET would
-- then silence both guards. Always-triggers fire in every replication role, and
-- logical replication never has a legitimate change of an audit row to apply.
alter table core.audit_logs enable always trigger audit_logs_immutable_statement;
alter table core.audit_logs enable always trigger audit_logs_immutable_row;

alter table core.audit_logs enable row level security;
