-- Supabase identity adapter (loaded by supabase.order only).
--
-- Wires Supabase's API roles to the SMTA group roles and defines where the
-- current user id comes from: the request's JWT, through auth.uid(). The
-- auth.users -> core.users_meta link needs the core tables and lives in
-- 45_supabase/; grants to anon live in 90_grants/900_supabase.sql.

-- Supabase creates its API roles NOINHERIT. Membership alone then carries no
-- privileges (and policies written TO app_user would not apply), so the
-- membership must inherit: per grant on PostgreSQL 16+, through the member
-- role's INHERIT attribute on 15. The shim creates the roles INHERIT already,
-- so on plain PostgreSQL nothing is altered.
do $$
declare
  v_pair record;
begin
  for v_pair in
    select * from (values ('app_user', 'authenticated'), ('app_admin', 'service_role')) as p(grp, member)
  loop
    if pg_catalog.current_setting('server_version_num')::integer >= 160000 then
      execute pg_catalog.format('grant %I to %I with inherit true', v_pair.grp, v_pair.member);
    else
      execute pg_catalog.format('grant %I to %I', v_pair.grp, v_pair.member);
      if exists (select 1 from pg_catalog.pg_roles r where r.rolname = v_pair.member and not r.rolinherit) then
        raise notice 'role % is NOINHERIT; making it INHERIT so that it receives the privileges of %',
          v_pair.member, v_pair.grp;
        execute pg_catalog.format('alter role %I inherit', v_pair.member);
      end if;
    end if;
  end loop;
end
$$;

-- SECURITY DEFINER so that any member of app_user can resolve its identity
-- without USAGE on schema auth; it reads only the caller's own request
-- settings, which are session state and unaffected by the definer switch.
create or replace function core.get_current_user_id() returns uuid
  language sql stable security definer
  set search_path = ''
as $$
  select auth.uid()
$$;

comment on function core.get_current_user_id() is
  'Identity of the current request (supabase flavour): auth.uid(), i.e. the JWT sub claim; NULL when there is none.';
