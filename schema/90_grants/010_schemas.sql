-- Grants, layer 0: schemas, and a sweep that takes EXECUTE away from PUBLIC.
--
-- Deny by default: every function of every SMTA schema loses PUBLIC's
-- EXECUTE here (default privileges already cover functions created by the
-- installing role; this also covers pgcrypto's functions and anything created
-- by another role). The files after this one grant each function by full
-- signature to named roles.
--
-- Schema USAGE: app_user needs core (policies call core helpers, clients may
-- read core tables under RLS), public (RPCs) and app (the adopter's tables);
-- app_admin additionally platform, utils (record_audit) and vault
-- (read_secret). No role gets CREATE anywhere. anon is granted in
-- 900_supabase.sql (it does not exist in the payload flavour).

revoke all on all functions in schema utils, core, platform, public, app, extensions, vault from public;

grant usage on schema core, public, app to app_user;
grant usage on schema core, public, app, platform, utils, vault to app_admin;
