-- Payload CMS identity adapter (loaded by payload.order only).
--
-- Payload's backend connects with its own login role (a member of app_user or
-- app_admin, created by the deployer, not here) and announces the end user
-- per transaction with set_config('app.current_user_id', id, true).

-- The setting is free text that any role may set, so it is parsed defensively:
-- unset, empty or malformed values mean "no identity" (NULL), never an error,
-- because this function runs inside every RLS policy. The pattern accepts
-- exactly what the uuid type accepts (optional braces, a hyphen optional after
-- every group of four hex digits), so the cast after it cannot fail.
create or replace function core.get_current_user_id() returns uuid
  language sql stable
  set search_path = ''
as $$
  select case
    when v.raw ~* '^(\{[0-9a-f]{4}(-?[0-9a-f]{4}){7}\}|[0-9a-f]{4}(-?[0-9a-f]{4}){7})$'
      then v.raw::uuid
  end
  from (select pg_catalog.current_setting('app.current_user_id', true) as raw) as v
$$;

comment on function core.get_current_user_id() is
  'Identity of the current request (payload flavour): the transaction setting app.current_user_id as uuid; NULL when unset, empty or not a uuid.';
