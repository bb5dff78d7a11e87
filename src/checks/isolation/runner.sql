-- The probe runner: executes every probe of a case in one round trip.
--
-- The plan (a JSON array) arrives in the setting smta_verify.plan and the actors in
-- smta_verify.actors; results leave through smta_verify.result. Each probe runs in
-- its own subtransaction that is always rolled back (the SMTA0 exception), so probes
-- never see each other's effects; PL/pgSQL variables survive the rollback, which is
-- how the result gets out. Before each probe the runner becomes the actor with
-- transaction-local settings only (set_config(..., true)), exactly as a client would,
-- and counts the rows written to the checked tables (pg_stat_xact_*), which is the
-- ground-truth diff: a write that row security filtered silently shows zero, one that
-- a trigger carried elsewhere does not.
DO $smta_probe$
DECLARE
  plan jsonb := current_setting('smta_verify.plan')::jsonb;
  actors jsonb := current_setting('smta_verify.actors')::jsonb;
  watched oid[] := ARRAY(SELECT jsonb_array_elements_text(current_setting('smta_verify.watched')::jsonb)::regclass::oid);
  step jsonb;
  actor jsonb;
  setting jsonb;
  results text[] := '{}';
  out text;
  n bigint;
  state text;
  message text;
  before_writes bigint;
  written bigint;
BEGIN
  FOR step IN SELECT value FROM jsonb_array_elements(plan) LOOP
    out := NULL; state := NULL; message := NULL; written := NULL;
    actor := actors -> (step ->> 'a')::int;
    BEGIN
      IF step ? 'w' THEN
        SELECT coalesce(sum(pg_stat_get_xact_tuples_inserted(o) + pg_stat_get_xact_tuples_updated(o)
                            + pg_stat_get_xact_tuples_deleted(o)), 0)
          INTO before_writes FROM unnest(watched) o;
      END IF;
      PERFORM set_config('role', actor ->> 'role', true);
      FOR setting IN SELECT value FROM jsonb_array_elements(actor -> 'settings') LOOP
        PERFORM set_config(setting ->> 0, setting ->> 1, true);
      END LOOP;
      IF step ->> 'm' = 'q' THEN
        EXECUTE step ->> 's' INTO out;
      ELSE
        EXECUTE step ->> 's';
        GET DIAGNOSTICS n = ROW_COUNT;
        out := n::text;
      END IF;
      PERFORM set_config('role', 'none', true);
      IF step ? 'w' THEN
        SELECT coalesce(sum(pg_stat_get_xact_tuples_inserted(o) + pg_stat_get_xact_tuples_updated(o)
                            + pg_stat_get_xact_tuples_deleted(o)), 0) - before_writes
          INTO written FROM unnest(watched) o;
      END IF;
      RAISE EXCEPTION USING ERRCODE = 'SMTA0';
    EXCEPTION WHEN OTHERS THEN
      IF SQLSTATE <> 'SMTA0' THEN
        state := SQLSTATE;
        message := SQLERRM;
      END IF;
    END;
    results := results || jsonb_build_array(out, state, message, written)::text;
  END LOOP;
  PERFORM set_config('smta_verify.result', '[' || array_to_string(results, ',') || ']', true);
END
$smta_probe$
