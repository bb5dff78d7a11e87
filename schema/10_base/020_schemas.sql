-- The SMTA schemas and the removal of PUBLIC's default rights on them.
--
-- utils: helper and trigger functions, never called by clients.
-- core: tenant data, RLS on every table.
-- platform: SaaS-wide data, service only.
-- public: the RPC interface, functions only.
-- app: empty, for the adopter's own tables.
-- extensions: home of pgcrypto (Supabase's convention).
-- vault: the secrets provider used by platform.tenant_secrets.
-- Grants to named roles are made in 90_grants/; here we only take away.

create schema if not exists utils;
create schema if not exists core;
create schema if not exists platform;
create schema if not exists public;
create schema if not exists app;
create schema if not exists extensions;
create schema if not exists vault;

comment on schema utils is 'SMTA shared helper and trigger functions (timestamps, soft delete, audit); never called by clients.';
comment on schema core is 'SMTA tenant data; row level security on every table.';
comment on schema platform is 'SMTA SaaS-wide data (billing, flags, settings, secret references); service role only.';
comment on schema public is 'SMTA RPC interface: functions only, no tables and no views.';
comment on schema app is 'Adopter''s own tables; created empty by SMTA.';
comment on schema extensions is 'Extensions (pgcrypto) kept out of the client-facing schemas.';
comment on schema vault is 'SMTA secrets provider: encrypted secret values and their key; reachable by the service role only.';

-- PUBLIC (every role, anon included) gets nothing on any of these schemas.
-- On PostgreSQL 15 public no longer grants CREATE by default, but a database
-- upgraded from an older version (or a template) may still do so.
revoke all on schema utils, core, platform, public, app, extensions, vault from public;
