-- Everything the harness needs to know about a database, read in one round trip.
-- System schemas, the harness's own objects and extension members are left out: the
-- checks judge what the installed SQL created. Keep field names in step with
-- src/catalog/mod.rs, which deserializes this JSON.
WITH user_ns AS (
  SELECT n.oid, n.nspname
  FROM pg_catalog.pg_namespace n
  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
    AND n.nspname NOT LIKE 'pg_temp_%' AND n.nspname NOT LIKE 'pg_toast_temp_%'
),
rels AS (
  SELECT c.oid, ns.nspname AS schema, c.relname AS name, c.relkind::text AS kind,
         c.relrowsecurity AS rls, c.relforcerowsecurity AS force_rls,
         pg_catalog.pg_get_userbyid(c.relowner) AS owner,
         c.relispartition AS is_partition,
         (SELECT pn.nspname || '.' || p.relname FROM pg_catalog.pg_inherits i
            JOIN pg_catalog.pg_class p ON p.oid = i.inhparent
            JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace
          WHERE i.inhrelid = c.oid LIMIT 1) AS parent,
         coalesce((SELECT option_value = 'true' FROM pg_catalog.pg_options_to_table(c.reloptions)
                   WHERE option_name = 'security_invoker'), false) AS security_invoker,
         c.relacl
  FROM pg_catalog.pg_class c
  JOIN user_ns ns ON ns.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid
                      AND d.deptype = 'e')
)
SELECT jsonb_build_object(
  'server_version', current_setting('server_version'),
  'server_version_num', current_setting('server_version_num')::int,
  'session_user', session_user::text,
  'relations', coalesce((SELECT jsonb_agg(jsonb_build_object(
      'schema', r.schema, 'name', r.name, 'kind', r.kind, 'rls', r.rls,
      'force_rls', r.force_rls, 'owner', r.owner, 'parent', r.parent,
      'security_invoker', r.security_invoker,
      'description', obj_description(r.oid, 'pg_class'),
      'columns', coalesce((SELECT jsonb_agg(jsonb_build_object(
          'name', a.attname,
          'type', pg_catalog.format_type(a.atttypid, a.atttypmod),
          'base_type', t.typname,
          'not_null', a.attnotnull,
          'has_default', a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '',
          'default', (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid) FROM pg_catalog.pg_attrdef d
                      WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND a.attgenerated = ''),
          'generated', a.attgenerated <> '',
          'privileges', coalesce((SELECT jsonb_agg(jsonb_build_object(
               'grantee', CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(x.grantee) END,
               'privilege', x.privilege_type) ORDER BY 1)
             FROM pg_catalog.aclexplode(a.attacl) x), '[]'::jsonb)
        ) ORDER BY a.attnum)
        FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
        WHERE a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped), '[]'::jsonb),
      'constraints', coalesce((SELECT jsonb_agg(jsonb_build_object(
          'name', k.conname, 'kind', k.contype::text,
          'columns', (SELECT jsonb_agg(a.attname ORDER BY u.ord)
                      FROM unnest(k.conkey) WITH ORDINALITY u(attnum, ord)
                      JOIN pg_catalog.pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum),
          'references', CASE WHEN k.contype = 'f' THEN
              (SELECT fn.nspname || '.' || f.relname FROM pg_catalog.pg_class f
                 JOIN pg_catalog.pg_namespace fn ON fn.oid = f.relnamespace WHERE f.oid = k.confrelid) END,
          'referenced_columns', CASE WHEN k.contype = 'f' THEN
              (SELECT jsonb_agg(a.attname ORDER BY u.ord)
               FROM unnest(k.confkey) WITH ORDINALITY u(attnum, ord)
               JOIN pg_catalog.pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.attnum) END,
          'definition', pg_catalog.pg_get_constraintdef(k.oid)
        ) ORDER BY k.conname)
        -- PostgreSQL 18 records NOT NULL as constraints too (contype n); columns
        -- already say not_null, and leaving them out keeps every version alike.
        FROM pg_catalog.pg_constraint k WHERE k.conrelid = r.oid AND k.contype <> 'n'), '[]'::jsonb),
      'unique_indexes', coalesce((SELECT jsonb_agg(jsonb_build_object(
          'name', ic.relname,
          'columns', (SELECT jsonb_agg(a.attname ORDER BY u.ord)
                      FROM unnest(i.indkey::int2[]) WITH ORDINALITY u(attnum, ord)
                      JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = u.attnum),
          'predicate', pg_catalog.pg_get_expr(i.indpred, i.indrelid),
          'has_expressions', i.indexprs IS NOT NULL
        ) ORDER BY ic.relname)
        FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
        WHERE i.indrelid = r.oid AND i.indisunique), '[]'::jsonb),
      'privileges', coalesce((SELECT jsonb_agg(jsonb_build_object(
          'grantee', CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(x.grantee) END,
          'privilege', x.privilege_type) ORDER BY 1)
        FROM pg_catalog.aclexplode(r.relacl) x), '[]'::jsonb),
      'policies', coalesce((SELECT jsonb_agg(jsonb_build_object(
          'name', p.polname,
          'command', CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                                   WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
          'permissive', p.polpermissive,
          'roles', (SELECT jsonb_agg(CASE WHEN rr = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(rr) END
                                     ORDER BY 1) FROM unnest(p.polroles) rr),
          'using', pg_catalog.pg_get_expr(p.polqual, p.polrelid),
          'with_check', pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid)
        ) ORDER BY p.polname)
        FROM pg_catalog.pg_policy p WHERE p.polrelid = r.oid), '[]'::jsonb),
      'triggers', coalesce((SELECT jsonb_agg(jsonb_build_object(
          'name', tg.tgname, 'enabled', tg.tgenabled::text,
          'function', (SELECT fn.nspname || '.' || f.proname FROM pg_catalog.pg_proc f
                        JOIN pg_catalog.pg_namespace fn ON fn.oid = f.pronamespace WHERE f.oid = tg.tgfoid),
          'definition', pg_catalog.pg_get_triggerdef(tg.oid)
        ) ORDER BY tg.tgname)
        FROM pg_catalog.pg_trigger tg WHERE tg.tgrelid = r.oid AND NOT tg.tgisinternal), '[]'::jsonb)
    ) ORDER BY r.schema, r.name) FROM rels r), '[]'::jsonb),
  'functions', coalesce((SELECT jsonb_agg(jsonb_build_object(
      'schema', ns.nspname, 'name', p.proname,
      'identity_arguments', pg_catalog.pg_get_function_identity_arguments(p.oid),
      'arguments', pg_catalog.pg_get_function_arguments(p.oid),
      'argument_names', coalesce(to_jsonb(p.proargnames), '[]'::jsonb),
      'argument_modes', coalesce(to_jsonb(p.proargmodes::text[]), '[]'::jsonb),
      'input_types', coalesce((SELECT jsonb_agg(pg_catalog.format_type(t, NULL) ORDER BY o)
                               FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY u(t, o)), '[]'::jsonb),
      'input_defaults', p.pronargdefaults,
      'result', pg_catalog.pg_get_function_result(p.oid),
      'returns_set', p.proretset,
      'kind', p.prokind::text,
      'language', (SELECT l.lanname FROM pg_catalog.pg_language l WHERE l.oid = p.prolang),
      'security_definer', p.prosecdef,
      'volatility', p.provolatile::text,
      'config', coalesce(to_jsonb(p.proconfig), '[]'::jsonb),
      'owner', pg_catalog.pg_get_userbyid(p.proowner),
      'description', obj_description(p.oid, 'pg_proc'),
      'definition', CASE WHEN p.prokind IN ('f', 'p') THEN pg_catalog.pg_get_functiondef(p.oid) END,
      'privileges', coalesce((SELECT jsonb_agg(jsonb_build_object(
          'grantee', CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(x.grantee) END,
          'privilege', x.privilege_type) ORDER BY 1)
        FROM pg_catalog.aclexplode(coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))) x), '[]'::jsonb)
    ) ORDER BY ns.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid))
    FROM pg_catalog.pg_proc p JOIN user_ns ns ON ns.oid = p.pronamespace
    WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                      WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid
                        AND d.deptype = 'e')), '[]'::jsonb),
  'schemas', coalesce((SELECT jsonb_agg(jsonb_build_object(
      'name', n.nspname, 'owner', pg_catalog.pg_get_userbyid(n.nspowner),
      'privileges', coalesce((SELECT jsonb_agg(jsonb_build_object(
          'grantee', CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(x.grantee) END,
          'privilege', x.privilege_type) ORDER BY 1)
        FROM pg_catalog.aclexplode(coalesce(n.nspacl, pg_catalog.acldefault('n', n.nspowner))) x), '[]'::jsonb)
    ) ORDER BY n.nspname)
    FROM pg_catalog.pg_namespace n JOIN user_ns u ON u.oid = n.oid), '[]'::jsonb),
  'roles', coalesce((SELECT jsonb_agg(jsonb_build_object(
      'name', r.rolname, 'superuser', r.rolsuper, 'bypassrls', r.rolbypassrls,
      'login', r.rolcanlogin, 'inherit', r.rolinherit,
      'member_of', coalesce((SELECT jsonb_agg(DISTINCT g.rolname ORDER BY g.rolname)
                             FROM pg_catalog.pg_auth_members m JOIN pg_catalog.pg_roles g ON g.oid = m.roleid
                             WHERE m.member = r.oid), '[]'::jsonb),
      -- One entry per role granted, its options OR-ed over every grantor's grant.
      -- PostgreSQL 16 gave each grant INHERIT and SET options; earlier versions
      -- have neither column (read through to_jsonb, so this parses on all): there
      -- the member's own INHERIT attribute decides inheritance and every member may
      -- SET ROLE.
      'memberships', coalesce((SELECT jsonb_agg(jsonb_build_object(
          'role', x.role, 'admin', x.admin, 'inherit', x.inherit, 'set', x.set) ORDER BY x.role)
        FROM (SELECT g.rolname::text AS role, bool_or(m.admin_option) AS admin,
                     bool_or(coalesce((to_jsonb(m) ->> 'inherit_option')::boolean, r.rolinherit)) AS inherit,
                     bool_or(coalesce((to_jsonb(m) ->> 'set_option')::boolean, true)) AS set
              FROM pg_catalog.pg_auth_members m JOIN pg_catalog.pg_roles g ON g.oid = m.roleid
              WHERE m.member = r.oid GROUP BY g.rolname) x), '[]'::jsonb)
    ) ORDER BY r.rolname)
    FROM pg_catalog.pg_roles r WHERE r.rolname NOT LIKE 'pg\_%'), '[]'::jsonb),
  'extensions', coalesce((SELECT jsonb_agg(jsonb_build_object(
      'name', e.extname, 'schema', n.nspname) ORDER BY e.extname)
    FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace), '[]'::jsonb),
  'extension_objects_in_public', coalesce((SELECT jsonb_agg(jsonb_build_object(
        'extension', s.extension, 'object', s.object) ORDER BY s.extension, s.object) FROM (
      SELECT e.extname AS extension, 'public.' || c.relname AS object
      FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_class c ON c.oid = d.objid
      JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
      WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.deptype = 'e'
        AND c.relnamespace = (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = 'public')
      UNION ALL
      SELECT e.extname, 'public.' || p.proname || '(' || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')'
      FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_proc p ON p.oid = d.objid
      JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
      WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.deptype = 'e'
        AND p.pronamespace = (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = 'public')) s), '[]'::jsonb)
)::text
