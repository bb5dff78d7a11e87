-- The two group roles every SMTA flavour wires its login roles to.
--
-- app_user is what every end-user request runs as (subject to RLS);
-- app_admin is the backend/service (BYPASSRLS). Both are NOLOGIN: flavours
-- grant them to their own login roles. Roles are cluster-global, so each is
-- created only when missing and an existing one is left untouched: the schema
-- must install into a second database of the same cluster.

do $$
begin
  if not exists (select 1 from pg_catalog.pg_roles where rolname = 'app_user') then
    create role app_user nologin nobypassrls;
    comment on role app_user is 'SMTA end-user group role: every client request runs as a member of it, subject to RLS.';
  end if;
  if not exists (select 1 from pg_catalog.pg_roles where rolname = 'app_admin') then
    create role app_admin nologin bypassrls;
    comment on role app_admin is 'SMTA backend/service group role: bypasses RLS, full access to core and platform (audit logs read-only).';
  end if;
end
$$;
