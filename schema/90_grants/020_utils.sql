-- Grants, utils layer: clients get nothing; the service may write audit rows
-- (with its own identity set, as record_audit refuses an anonymous actor).
-- Trigger functions need no EXECUTE grant: PostgreSQL does not check it when
-- a trigger fires.

grant execute on function utils.record_audit(uuid, text, uuid, text, text, jsonb) to app_admin;
