-- platform.platform_subscription_overrides: operator-granted exceptions to an
-- organization's plan (a free upgrade, extra features, a grace period).
-- Service only.
--
-- Columns chosen: organization_id, product_id (plan granted, optional),
-- features (jsonb, merged over the plan's), reason, expires_at (NULL = no
-- end), created_by (platform operator), timestamps.

create table platform.platform_subscription_overrides (
  id              uuid primary key default gen_random_uuid(),
  organization_id uuid not null references core.organizations (id) on delete cascade,
  product_id      uuid references platform.subscription_products (id) on delete set null,
  features        jsonb not null default '{}'::jsonb,
  reason          text,
  expires_at      timestamptz,
  created_by      uuid,
  created_at      timestamptz not null default now(),
  updated_at      timestamptz not null default now()
);

comment on table platform.platform_subscription_overrides is
  'Operator overrides of an organization''s plan: granted product and/or features, reason, optional expiry.';

create index platform_subscription_overrides_organization_id_idx on platform.platform_subscription_overrides (organization_id);
comment on index platform.platform_subscription_overrides_organization_id_idx is 'Tenant key / foreign key lookup.';
create index platform_subscription_overrides_product_id_idx on platform.platform_subscription_overrides (product_id);
comment on index platform.platform_subscription_overrides_product_id_idx is 'Foreign key lookup.';

create trigger platform_subscription_overrides_touch before update on platform.platform_subscription_overrides
  for each row execute function utils.touch_updated_at();
comment on trigger platform_subscription_overrides_touch on platform.platform_subscription_overrides is 'Stamps updated_at.';

alter table platform.platform_subscription_overrides enable row level security;
