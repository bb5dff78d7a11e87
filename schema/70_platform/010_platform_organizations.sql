-- platform.platform_organizations: the SaaS operator's view of each tenant,
-- one row per core organization (same id), created by the organization
-- trigger. Service only: RLS is enabled with no policy for app_user, and
-- app_user holds no privilege on platform.
--
-- Columns chosen beyond SPEC (id, label, notes): status, the operator's
-- lifecycle flag (active, suspended, closed), and timestamps.

create table platform.platform_organizations (
  id          uuid primary key references core.organizations (id) on delete cascade,
  label       text,
  notes       text,
  status      text not null default 'active' check (status in ('active', 'suspended', 'closed')),
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now()
);

comment on table platform.platform_organizations is
  'Operator record of each tenant (id = core organization id): label, notes, status active|suspended|closed.';

create trigger platform_organizations_touch before update on platform.platform_organizations
  for each row execute function utils.touch_updated_at();
comment on trigger platform_organizations_touch on platform.platform_organizations is 'Stamps updated_at.';

alter table platform.platform_organizations enable row level security;
