-- Default privileges: functions created from here on are not executable by
-- PUBLIC.
--
-- PostgreSQL grants EXECUTE to PUBLIC on every new function; with this in
-- place a function created by the installing role starts with no grant at all,
-- and 90_grants/ grants each one by full signature to named roles. The grants
-- files still revoke explicitly, because default privileges only cover the
-- role that ran this statement.

alter default privileges revoke execute on functions from public;
