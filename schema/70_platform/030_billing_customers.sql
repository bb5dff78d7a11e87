-- platform.billing_customers: the billing provider's customer for each
-- organization (at most one, hence organization_id is the key). Service only.
--
-- Columns (SPEC): organization_id, provider, provider_customer_id (unique),
-- billing_email; plus timestamps.

create table platform.billing_customers (
  organization_id      uuid primary key references core.organizations (id) on delete cascade,
  provider             text not null default 'stripe',
  provider_customer_id text not null unique,
  billing_email        text,
  created_at           timestamptz not null default now(),
  updated_at           timestamptz not null default now()
);

comment on table platform.billing_customers is
  'Billing-provider customer of an organization (provider, customer id, billing email).';

create trigger billing_customers_touch before update on platform.billing_customers
  for each row execute function utils.touch_updated_at();
comment on trigger billing_customers_touch on platform.billing_customers is 'Stamps updated_at.';

alter table platform.billing_customers enable row level security;
