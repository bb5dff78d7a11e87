-- Row stamping trigger functions shared by every table.
--
-- set_created_by / set_updated_at are wired to the std tables of core (the
-- tables with created_by ... updated_at), touch_updated_at to the platform
-- tables, which have timestamps but no actor columns. The actor comes from
-- core.get_current_user_id(), so clients cannot forge it: app_user has no
-- column privilege on created_by (except organizations, whose policy pins it
-- to the caller) nor on updated_by.

create or replace function utils.set_created_by() returns trigger
  language plpgsql
  set search_path = ''
as $$
begin
  -- Keep an explicit value (service seeding, organizations' policy-checked
  -- creator); otherwise record whoever is acting.
  new.created_by := coalesce(new.created_by, core.get_current_user_id());
  return new;
end
$$;

comment on function utils.set_created_by() is
  'BEFORE INSERT trigger: fills created_by with the current user when the row does not name one.';

create or replace function utils.set_updated_at() returns trigger
  language plpgsql
  set search_path = ''
as $$
begin
  new.updated_at := pg_catalog.now();
  -- Without an identity (service or migrations) keep what the writer set.
  new.updated_by := coalesce(core.get_current_user_id(), new.updated_by);
  return new;
end
$$;

comment on function utils.set_updated_at() is
  'BEFORE UPDATE trigger for std tables: stamps updated_at and updated_by.';

create or replace function utils.touch_updated_at() returns trigger
  language plpgsql
  set search_path = ''
as $$
begin
  new.updated_at := pg_catalog.now();
  return new;
end
$$;

comment on function utils.touch_updated_at() is
  'BEFORE UPDATE trigger for tables without actor columns: stamps updated_at.';
