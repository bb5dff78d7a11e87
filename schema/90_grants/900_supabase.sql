-- Grants, supabase flavour (loaded by supabase.order only, last).
--
-- A real Supabase database has default privileges that hand EXECUTE on new
-- functions (and ALL on new tables) in public to anon, authenticated and
-- service_role directly. Those direct grants would bypass the deny-by-default
-- design, so they are removed from every SMTA schema; authenticated and
-- service_role keep what they inherit from app_user and app_admin. Then anon
-- gets exactly what SPEC allows anonymous callers: USAGE on public and the two
-- open RPCs.

do $$
declare
  v_schema text;
begin
  foreach v_schema in array array['utils', 'core', 'platform', 'public', 'app', 'vault'] loop
    execute pg_catalog.format('revoke all on all tables in schema %I from anon, authenticated, service_role', v_schema);
    execute pg_catalog.format('revoke all on all sequences in schema %I from anon, authenticated, service_role', v_schema);
    execute pg_catalog.format('revoke all on all functions in schema %I from anon, authenticated, service_role', v_schema);
  end loop;
end
$$;

grant usage on schema public to anon;

grant execute on function public.get_invitation_details(text) to anon;
grant execute on function public.list_subscription_products() to anon;
