-- RPCs: the public price list. SECURITY DEFINER because platform is closed to
-- clients; it exposes only active products and only catalogue columns.

create or replace function public.list_subscription_products()
returns table (
  id               uuid,
  name             text,
  description      text,
  price_cents      integer,
  currency         text,
  billing_interval text,
  features         jsonb,
  sort_order       integer
)
  language sql stable security definer
  set search_path = ''
as $$
  select p.id, p.name, p.description, p.price_cents, p.currency, p.billing_interval, p.features, p.sort_order
  from platform.subscription_products p
  where p.is_active
  order by p.sort_order, p.name, p.id
$$;
comment on function public.list_subscription_products() is 'Active subscription products (anyone, anonymous included).';
