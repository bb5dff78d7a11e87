-- Supabase shim for plain PostgreSQL (loaded by supabase.order only).
--
-- A real Supabase database already has the roles anon, authenticated and
-- service_role, the schema auth, the table auth.users and auth.uid(). This
-- file recreates just enough of that surface for the harness to run the
-- supabase flavour on a bare cluster. Every object is created only when it is
-- missing, and an object that exists is left exactly as it is: on a Supabase
-- image this file is a no-op.

-- Roles are cluster-global: a second database of the same cluster (or the
-- payload flavour installed first) may already have created them.
do $$
begin
  if not exists (select 1 from pg_catalog.pg_roles where rolname = 'anon') then
    create role anon nologin;
  end if;
  if not exists (select 1 from pg_catalog.pg_roles where rolname = 'authenticated') then
    create role authenticated nologin;
  end if;
  if not exists (select 1 from pg_catalog.pg_roles where rolname = 'service_role') then
    create role service_role nologin bypassrls;
  end if;
end
$$;

do $$
begin
  if not exists (select 1 from pg_catalog.pg_namespace where nspname = 'auth') then
    create schema auth;
    comment on schema auth is 'Supabase shim: authentication schema (users and the JWT identity function).';
    -- Only the service reaches auth (to seed and remove accounts). Clients
    -- never need it: core.get_current_user_id() calls auth.uid() as definer.
    revoke all on schema auth from public;
    grant usage on schema auth to service_role;
  end if;

  if pg_catalog.to_regclass('auth.users') is null then
    create table auth.users (
      id                 uuid primary key,
      email              text,
      raw_user_meta_data jsonb default '{}'::jsonb,
      created_at         timestamptz default pg_catalog.now()
    );
    comment on table auth.users is 'Supabase shim: the authentication users (one row per account).';
    -- The service role seeds and removes accounts, as Supabase's admin API does.
    grant select, insert, update, delete on auth.users to service_role;
  end if;

  if pg_catalog.to_regprocedure('auth.uid()') is null then
    -- An unset setting gives NULL, but a setting that was set in an earlier
    -- transaction comes back as '' and ''::jsonb would raise: nullif both.
    create function auth.uid() returns uuid
      language sql stable
      set search_path = ''
    as $fn$
      select nullif(
        coalesce(
          nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub',
          pg_catalog.current_setting('request.jwt.claim.sub', true)
        ),
        ''
      )::uuid
    $fn$;
    comment on function auth.uid() is 'Supabase shim: the user id (sub claim) of the current request, NULL when there is none.';
    revoke all on function auth.uid() from public;
    grant execute on function auth.uid() to service_role;
  end if;
end
$$;
