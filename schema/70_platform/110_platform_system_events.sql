-- platform.platform_system_events: machine-generated events (jobs, webhooks,
-- errors) for the operator. Service only.
--
-- Columns chosen: event_type, severity (debug, info, warning, error,
-- critical), source, payload (jsonb), created_at.

create table platform.platform_system_events (
  id         uuid primary key default gen_random_uuid(),
  event_type text not null,
  severity   text not null default 'info' check (severity in ('debug', 'info', 'warning', 'error', 'critical')),
  source     text,
  payload    jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now()
);

comment on table platform.platform_system_events is 'System events: type, severity, source, payload.';

alter table platform.platform_system_events enable row level security;
