-- The probe runner: executes a list of statements, each as its actor, in one round trip.
--
-- The statements (a JSON array) arrive in the setting smta_verify.plan and the actors
-- in smta_verify.actors; results leave through smta_verify.result. Each statement
-- runs in its own subtransaction that is always rolled back (the SMTA0 exception), so
-- statements never see each other's effects; PL/pgSQL variables survive the rollback,
-- which is how results get out. Before each statement the runner becomes the actor
-- with transaction-local settings only (set_config(..., true)), exactly as a client
-- would. For writes it counts the rows inserted, updated or deleted per checked table
-- (pg_stat_xact_*): that is the ground-truth diff — a write row security filtered
-- silently counts zero, one a trigger carried elsewhere does not. For statements
-- marked 'd' it also returns, as the superuser, every row of each table that changed.
-- A failure reports the constraint it names, if any: which unique key or foreign key
-- refused a row is what tells a caller another tenant's row exists.
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
  violated text;
  before_counts bigint[];
  after_counts bigint[];
  written bigint;
  changed jsonb;
  rel oid;
  rows_after jsonb;
  i int;
BEGIN
  FOR step IN SELECT value FROM jsonb_array_elements(plan) LOOP
    out := NULL; state := NULL; message := NULL; violated := NULL; written := NULL; changed := NULL;
    actor := actors -> (step ->> 'a')::int;
    BEGIN
      IF step ? 'w' THEN
        before_counts := ARRAY(SELECT pg_stat_get_xact_tuples_inserted(o) + pg_stat_get_xact_tuples_updated(o)
                                      + pg_stat_get_xact_tuples_deleted(o) FROM unnest(watched) o);
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
        after_counts := ARRAY(SELECT pg_stat_get_xact_tuples_inserted(o) + pg_stat_get_xact_tuples_updated(o)
                                     + pg_stat_get_xact_tuples_deleted(o) FROM unnest(watched) o);
        written := 0;
        changed := '{}';
        FOR i IN 1 .. coalesce(array_length(watched, 1), 0) LOOP
          IF after_counts[i] <> before_counts[i] THEN
            written := written + after_counts[i] - before_counts[i];
            IF step ? 'd' THEN
              rel := watched[i];
              EXECUTE format('SELECT coalesce(jsonb_agg(to_jsonb(x)), ''[]'') FROM %s x', rel::regclass) INTO rows_after;
              changed := changed || jsonb_build_object(
                (SELECT n.nspname || '.' || c.relname FROM pg_catalog.pg_class c
                   JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = rel),
                rows_after);
            END IF;
          END IF;
        END LOOP;
      END IF;
      RAISE EXCEPTION USING ERRCODE = 'SMTA0';
    EXCEPTION WHEN OTHERS THEN
      IF SQLSTATE <> 'SMTA0' THEN
        state := SQLSTATE;
        message := SQLERRM;
        GET STACKED DIAGNOSTICS violated = CONSTRAINT_NAME;
      END IF;
    END;
    results := results || jsonb_build_array(out, state, message, written, changed, nullif(violated, ''))::text;
  END LOOP;
  PERFORM set_config('smta_verify.result', '[' || array_to_string(results, ',') || ']', true);
END
$smta_probe$
