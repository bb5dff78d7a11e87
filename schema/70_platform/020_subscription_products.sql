-- platform.subscription_products: the plans the SaaS sells. Active products
-- are listed to anyone (even anonymous visitors) by
-- public.list_subscription_products(); the table itself is service only.
--
-- Columns chosen (SPEC names the table only): provider_product_id (billing
-- provider's id), name, description, price_cents, currency, billing_interval
-- (month, year, one_time), features (jsonb), is_active, sort_order.

create table platform.subscription_products (
  id                  uuid primary key default gen_random_uuid(),
  provider_product_id text unique,
  name                text not null,
  description         text,
  price_cents         integer not null default 0 check (price_cents >= 0),
  currency            text not null default 'usd',
  billing_interval    text not null default 'month' check (billing_interval in ('month', 'year', 'one_time')),
  features            jsonb not null default '{}'::jsonb,
  is_active           boolean not null default true,
  sort_order          integer not null default 0,
  created_at          timestamptz not null default now(),
  updated_at          timestamptz not null default now()
);

comment on table platform.subscription_products is
  'Plans on sale: price (cents, currency, interval), features, active flag and display order.';

create trigger subscription_products_touch before update on platform.subscription_products
  for each row execute function utils.touch_updated_at();
comment on trigger subscription_products_touch on platform.subscription_products is 'Stamps updated_at.';

alter table platform.subscription_products enable row level security;
