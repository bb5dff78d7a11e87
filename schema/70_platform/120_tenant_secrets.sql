-- platform.tenant_secrets: which secrets a tenant or a user has, by name.
--
-- The value itself never lives here: secret_ref is an opaque reference into
-- the secrets provider (75_vault/), so even the service reading this table
-- sees no secret. Each secret belongs to exactly one owner, an organization
-- or a user, and scope says which. Clients reach it only through the
-- public.*_secret RPCs, which check the owner.
--
-- Columns (SPEC): scope, organization_id, user_id, secret_name, secret_ref;
-- chosen: created_by, timestamps.

create table platform.tenant_secrets (
  id              uuid primary key default gen_random_uuid(),
  scope           text not null,
  organization_id uuid references core.organizations (id) on delete cascade,
  user_id         uuid references core.users_meta (id) on delete cascade,
  secret_name     text not null,
  secret_ref      uuid not null,
  created_by      uuid,
  created_at      timestamptz not null default now(),
  updated_at      timestamptz not null default now(),
  constraint tenant_secrets_scope_check check (scope in ('organization', 'user')),
  constraint tenant_secrets_owner_matches_scope check (
    (scope = 'organization' and organization_id is not null and user_id is null)
    or (scope = 'user' and user_id is not null and organization_id is null)),
  constraint tenant_secrets_secret_ref_key unique (secret_ref),
  constraint tenant_secrets_owner_name_key unique nulls not distinct (organization_id, user_id, secret_name)
);

comment on table platform.tenant_secrets is
  'Secret names per organization or user; secret_ref points into the secrets provider, the value is never stored here.';
comment on constraint tenant_secrets_scope_check on platform.tenant_secrets is 'Scopes: organization or user.';
comment on constraint tenant_secrets_owner_matches_scope on platform.tenant_secrets is
  'Exactly one owner column is set, the one the scope names.';
comment on constraint tenant_secrets_secret_ref_key on platform.tenant_secrets is 'A provider value belongs to one secret.';
comment on constraint tenant_secrets_owner_name_key on platform.tenant_secrets is 'Secret names are unique per owner.';

create index tenant_secrets_organization_id_idx on platform.tenant_secrets (organization_id);
comment on index platform.tenant_secrets_organization_id_idx is 'Tenant key / foreign key lookup.';
create index tenant_secrets_user_id_idx on platform.tenant_secrets (user_id);
comment on index platform.tenant_secrets_user_id_idx is 'Foreign key lookup.';

create trigger tenant_secrets_touch before update on platform.tenant_secrets
  for each row execute function utils.touch_updated_at();
comment on trigger tenant_secrets_touch on platform.tenant_secrets is 'Stamps updated_at.';

alter table platform.tenant_secrets enable row level security;
