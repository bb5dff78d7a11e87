-- platform.billing_subscriptions: an organization's subscription to a
-- product, mirrored from the billing provider. Service only.
--
-- Columns chosen: organization_id, product_id, provider_subscription_id
-- (unique), status (trialing, active, past_due, canceled, incomplete,
-- unpaid: the usual provider states), current_period_start/end,
-- cancel_at_period_end, timestamps.

create table platform.billing_subscriptions (
  id                       uuid primary key default gen_random_uuid(),
  organization_id          uuid not null references core.organizations (id) on delete cascade,
  product_id               uuid references platform.subscription_products (id) on delete set null,
  provider_subscription_id text unique,
  status                   text not null default 'active'
    check (status in ('trialing', 'active', 'past_due', 'canceled', 'incomplete', 'unpaid')),
  current_period_start     timestamptz,
  current_period_end       timestamptz,
  cancel_at_period_end     boolean not null default false,
  created_at               timestamptz not null default now(),
  updated_at               timestamptz not null default now()
);

comment on table platform.billing_subscriptions is
  'Subscription of an organization to a product: provider id, status, current period, cancellation flag.';

create index billing_subscriptions_organization_id_idx on platform.billing_subscriptions (organization_id);
comment on index platform.billing_subscriptions_organization_id_idx is 'Tenant key / foreign key lookup.';
create index billing_subscriptions_product_id_idx on platform.billing_subscriptions (product_id);
comment on index platform.billing_subscriptions_product_id_idx is 'Foreign key lookup.';

create trigger billing_subscriptions_touch before update on platform.billing_subscriptions
  for each row execute function utils.touch_updated_at();
comment on trigger billing_subscriptions_touch on platform.billing_subscriptions is 'Stamps updated_at.';

alter table platform.billing_subscriptions enable row level security;
