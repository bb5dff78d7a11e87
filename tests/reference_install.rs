//! Installing the reference schema (SPEC §2): from scratch in both flavours, into a
//! database that already has Supabase's own objects (which must be left as they
//! were), and from the `smta-verify schema` output with psql. Every install must
//! show the same catalog: the 11 core and 12 platform tables with RLS, nothing but
//! functions in `public`, and every RPC of SPEC §2 with SPEC's argument names.

mod support;

use std::collections::BTreeSet;
use std::process::Command;

use rstest::rstest;
use smta_verify::{Actor, Backend, Flavor, Sandbox, SqlSource};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor, PgConnection};
use support::{become_sql, Acting, Session};
use uuid::Uuid;

const CORE_TABLES: [&str; 11] = [
    "audit_logs",
    "invitations",
    "memberships",
    "organization_files",
    "organizations",
    "organizations_meta",
    "roles",
    "unit_memberships",
    "unit_meta",
    "units",
    "users_meta",
];

const PLATFORM_TABLES: [&str; 12] = [
    "billing_customers",
    "billing_subscriptions",
    "platform_action_logs",
    "platform_feature_flags",
    "platform_organizations",
    "platform_roles",
    "platform_settings",
    "platform_subscription_overrides",
    "platform_system_events",
    "platform_users",
    "subscription_products",
    "tenant_secrets",
];

/// SPEC §2's RPC interface: names and input argument names, in order.
const SPEC_RPCS: [&str; 47] = [
    "get_user_profile()",
    "update_user_profile(p_first_name, p_last_name)",
    "create_organization(p_name, p_description)",
    "list_my_organizations()",
    "get_user_organizations()",
    "get_organization(p_id)",
    "update_organization(p_id, p_name, p_description)",
    "update_organization_meta(p_id, p_logo_file_id, p_address, p_timezone, p_locale)",
    "delete_organization(p_id)",
    "list_organization_members(p_id)",
    "get_user_role(p_org_id)",
    "get_user_permissions(p_org_id)",
    "add_member_to_organization(p_org_id, p_user_id, p_role_id)",
    "update_member_role(p_org_id, p_user_id, p_role_id)",
    "remove_member_from_organization(p_org_id, p_user_id)",
    "remove_user_from_organization(p_user_id, p_org_id)",
    "transfer_super_admin(p_org_id, p_new_super_admin_user_id)",
    "create_unit(p_org_id, p_name, p_description)",
    "update_unit(p_id, p_name, p_description)",
    "delete_unit(p_id)",
    "get_unit(p_id)",
    "list_units(p_org_id)",
    "list_my_units()",
    "get_user_units(p_org_id)",
    "list_unit_members(p_unit_id)",
    "add_member_to_unit(p_unit_id, p_user_id, p_role_id)",
    "update_unit_member_role(p_unit_id, p_user_id, p_role_id)",
    "remove_member_from_unit(p_unit_id, p_user_id)",
    "assign_user_to_unit(p_user_id, p_unit_id, p_role_id)",
    "remove_user_from_unit(p_user_id, p_unit_id)",
    "get_user_unit_permissions(p_unit_id)",
    "create_file(p_org_id, p_file_url, p_file_type, p_file_size, p_file_specs)",
    "update_file_metadata(p_file_id, p_file_specs, p_file_size)",
    "get_file(p_file_id)",
    "list_files(p_org_id)",
    "delete_file(p_file_id)",
    "get_audit_log(p_org_id, p_limit)",
    "create_invitation(p_email, p_organization_id, p_role_id, p_unit_id, p_metadata)",
    "accept_invitation(p_token)",
    "cancel_invitation(p_invitation_id)",
    "resend_invitation(p_invitation_id)",
    "list_invitations(p_organization_id, p_status)",
    "get_invitation_details(p_token)",
    "create_secret(p_scope, p_id, p_name, p_secret)",
    "delete_secret(p_secret_id)",
    "list_secrets(p_scope, p_id)",
    "list_subscription_products()",
];

/// The RPCs SPEC §3 opens to anonymous callers.
const ANONYMOUS_RPCS: [&str; 2] = ["get_invitation_details", "list_subscription_products"];

fn set(items: impl IntoIterator<Item = impl Into<String>>) -> BTreeSet<String> {
    items.into_iter().map(Into::into).collect()
}

async fn names(s: &mut Session, sql: &str) -> BTreeSet<String> {
    s.texts(sql).await.into_iter().flatten().collect()
}

/// Asserts the catalog SPEC §2 promises, on the database `options` points at.
async fn assert_catalog(flavor: Flavor, options: &PgConnectOptions, install: &str) {
    let mut s = Session::begin_on(flavor, options).await;
    let tables_of = |schema: &str| {
        format!(
            "select c.relname::text from pg_catalog.pg_class c
              where c.relnamespace = '{schema}'::regnamespace and c.relkind in ('r', 'p')"
        )
    };
    assert_eq!(
        names(&mut s, &tables_of("core")).await,
        set(CORE_TABLES),
        "{install}: core tables"
    );
    assert_eq!(
        names(&mut s, &tables_of("platform")).await,
        set(PLATFORM_TABLES),
        "{install}: platform tables"
    );
    let without_rls = names(
        &mut s,
        "select c.oid::regclass::text from pg_catalog.pg_class c
          where c.relnamespace in ('core'::regnamespace, 'platform'::regnamespace)
            and c.relkind in ('r', 'p') and not c.relrowsecurity",
    )
    .await;
    assert_eq!(without_rls, BTreeSet::new(), "{install}: RLS disabled");
    let relations_in_public = names(
        &mut s,
        "select c.relname::text from pg_catalog.pg_class c
          where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'f')",
    )
    .await;
    assert_eq!(
        relations_in_public,
        BTreeSet::new(),
        "{install}: tables or views in public"
    );

    // Input arguments only: proargnames also names the columns of RETURNS TABLE.
    let rpcs = names(
        &mut s,
        "select p.proname || '(' || coalesce((
                 select string_agg(a.name, ', ' order by a.ord)
                   from unnest(p.proargnames,
                               coalesce(p.proargmodes, array_fill('i'::\"char\", array[cardinality(p.proargnames)])))
                        with ordinality as a(name, mode, ord)
                  where a.mode in ('i', 'b', 'v')), '') || ')'
           from pg_catalog.pg_proc p
          where p.pronamespace = 'public'::regnamespace",
    )
    .await;
    assert_eq!(rpcs, set(SPEC_RPCS), "{install}: public functions");

    // Clients reach every RPC through app_user; PUBLIC reaches none; anonymous callers
    // (supabase's anon) exactly the two SPEC opens to them.
    let executable_by = |role: &str| {
        format!(
            "select p.proname::text from pg_catalog.pg_proc p
              where p.pronamespace = 'public'::regnamespace
                and pg_catalog.has_function_privilege('{role}', p.oid, 'EXECUTE')"
        )
    };
    let every_rpc = set(SPEC_RPCS.map(|r| r.split('(').next().unwrap()));
    assert_eq!(
        names(&mut s, &executable_by("app_user")).await,
        every_rpc,
        "{install}: RPCs app_user may call"
    );
    assert_eq!(
        names(&mut s, &executable_by("smta_verify_public")).await,
        BTreeSet::new(),
        "{install}: RPCs PUBLIC may call"
    );
    if flavor == Flavor::Supabase {
        assert_eq!(
            names(&mut s, &executable_by("authenticated")).await,
            every_rpc,
            "{install}: RPCs authenticated may call"
        );
        assert_eq!(
            names(&mut s, &executable_by("anon")).await,
            set(ANONYMOUS_RPCS),
            "{install}: RPCs anon may call"
        );
    }
}

#[rstest]
#[tokio::test]
async fn reference_schema_installs_from_scratch(
    #[values(Flavor::Supabase, Flavor::Payload)] flavor: Flavor,
) {
    // The binary's shared sandbox is a from-scratch install on a fresh cluster.
    let sandbox = support::sandbox(flavor).await;
    assert_catalog(flavor, &sandbox.connect_options(), "from scratch").await;
}

#[rstest]
#[tokio::test]
async fn schema_command_output_applies_with_psql(
    #[values(Flavor::Supabase, Flavor::Payload)] flavor: Flavor,
) {
    let output = Command::new(env!("CARGO_BIN_EXE_smta-verify"))
        .args(["schema", "--flavor", flavor.name()])
        .output()
        .expect("run smta-verify schema");
    assert!(
        output.status.success(),
        "smta-verify schema --flavor {flavor}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let script = tempfile::NamedTempFile::new().expect("a temp file");
    std::fs::write(script.path(), &output.stdout).expect("write the script");

    // An empty database next to the shared sandbox: the cluster's roles already
    // exist there, which the schema must accept (it installs into a second database).
    let server = support::sandbox(flavor).await.connect_options();
    let database = format!(
        "smta_verify_psql_{}",
        &Uuid::new_v4().simple().to_string()[..12]
    );
    let mut admin = PgConnection::connect_with(&server).await.expect("connect");
    admin
        .execute(format!("CREATE DATABASE {database} TEMPLATE template0").as_str())
        .await
        .expect("create an empty database");
    let host = server
        .get_socket()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| server.get_host().to_string());
    let conninfo = format!(
        "host={host} port={} user={} dbname={database}",
        server.get_port(),
        server.get_username()
    );
    let psql = Command::new("/usr/bin/psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f"])
        .arg(script.path())
        .arg(&conninfo)
        .output()
        .expect("run psql");
    assert!(
        psql.status.success(),
        "psql -v ON_ERROR_STOP=1 -f <smta-verify schema --flavor {flavor}> failed ({}):\n{}",
        psql.status,
        String::from_utf8_lossy(&psql.stderr)
    );

    // psql must have installed the whole schema, not merely exited 0.
    assert_catalog(flavor, &server.clone().database(&database), "psql").await;
    admin
        .execute(format!("DROP DATABASE {database}").as_str())
        .await
        .expect("drop the psql database");
}

/// What a Supabase database has before SMTA arrives, written for this test after the
/// image's own definitions: the API roles NOINHERIT (service_role BYPASSRLS), schema
/// auth, a wider auth.users than the shim's, auth.uid() with Supabase's body, and the
/// default privileges that hand every new object in public to the API roles.
const SUPABASE_IMAGE_SQL: &str = r#"
create role anon nologin noinherit;
create role authenticated nologin noinherit;
create role service_role nologin noinherit bypassrls;

create schema auth;
grant usage on schema auth to anon, authenticated, service_role;

create table auth.users (
  instance_id        uuid,
  id                 uuid not null primary key,
  aud                varchar(255),
  role               varchar(255),
  email              varchar(255),
  encrypted_password varchar(255),
  email_confirmed_at timestamptz,
  phone              text unique default null,
  phone_confirmed_at timestamptz,
  confirmed_at       timestamptz generated always as (least(email_confirmed_at, phone_confirmed_at)) stored,
  raw_app_meta_data  jsonb,
  raw_user_meta_data jsonb,
  is_super_admin     boolean,
  is_sso_user        boolean not null default false,
  is_anonymous       boolean not null default false,
  created_at         timestamptz,
  updated_at         timestamptz,
  deleted_at         timestamptz
);

-- The older single claim first, then the claims object; '' counts as unset.
create function auth.uid() returns uuid
  language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$$;

alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges in schema public grant all on functions to anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;
"#;

/// One line per fact about Supabase's objects that SMTA must leave alone.
const SUPABASE_FACTS_SQL: &str = r#"
select format('role %s inherit=%s bypassrls=%s login=%s super=%s createrole=%s createdb=%s replication=%s',
              r.rolname, r.rolinherit, r.rolbypassrls, r.rolcanlogin, r.rolsuper,
              r.rolcreaterole, r.rolcreatedb, r.rolreplication) as fact
  from pg_catalog.pg_roles r
 where r.rolname in ('anon', 'authenticated', 'service_role')
union all
select format('column %s %s %s notnull=%s generated=%s default=%s',
              a.attnum, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod),
              a.attnotnull, a.attgenerated, pg_catalog.pg_get_expr(d.adbin, d.adrelid))
  from pg_catalog.pg_attribute a
  left join pg_catalog.pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
 where a.attrelid = 'auth.users'::regclass and a.attnum > 0 and not a.attisdropped
union all
select format('schema auth owner=%s acl=%s', n.nspowner::regrole, n.nspacl)
  from pg_catalog.pg_namespace n
 where n.nspname = 'auth'
union all
select format('table auth.users owner=%s acl=%s rls=%s', c.relowner::regrole, c.relacl, c.relrowsecurity)
  from pg_catalog.pg_class c
 where c.oid = 'auth.users'::regclass
union all
select format('uid definer=%s volatility=%s config=%s owner=%s acl=%s body=%s',
              p.prosecdef, p.provolatile, p.proconfig, p.proowner::regrole, p.proacl, p.prosrc)
  from pg_catalog.pg_proc p
 where p.oid = 'auth.uid()'::regprocedure
"#;

#[tokio::test]
async fn supabase_flavor_installs_over_supabase_objects_and_leaves_them_alone() {
    let flavor = Flavor::Supabase;
    let mut sources = vec![
        SqlSource {
            name: "tests/supabase-image.sql".into(),
            sql: SUPABASE_IMAGE_SQL.into(),
        },
        SqlSource {
            name: "tests/supabase-image-snapshot.sql".into(),
            sql: format!(
                "create schema supabase_image_before;
                 create table supabase_image_before.facts as {SUPABASE_FACTS_SQL};"
            ),
        },
    ];
    sources.extend(SqlSource::reference(flavor).expect("the reference schema is embedded"));
    let sandbox = Sandbox::start(Backend::Local, flavor, &sources)
        .await
        .unwrap_or_else(|e| panic!("install over Supabase objects: {e}"));
    let options = sandbox.connect_options();
    let mut s = Session::begin_on(flavor, &options).await;

    let before = names(&mut s, "select fact from supabase_image_before.facts").await;
    let after = names(&mut s, SUPABASE_FACTS_SQL).await;
    assert!(
        before.len() > 22,
        "the snapshot missed the objects: {before:#?}"
    );
    // Membership of a NOINHERIT role carries no privileges, so on PostgreSQL 15 (no
    // per-grant INHERIT) the schema makes exactly the two wired roles INHERIT; 16+
    // grants WITH INHERIT TRUE and alters no role.
    let version: i32 = s
        .text("select current_setting('server_version_num')")
        .await
        .parse()
        .unwrap();
    let expected: BTreeSet<String> = before
        .iter()
        .map(|fact| {
            let wired =
                fact.starts_with("role authenticated ") || fact.starts_with("role service_role ");
            if version < 160000 && wired {
                fact.replace("inherit=f ", "inherit=t ")
            } else {
                fact.clone()
            }
        })
        .collect();
    assert_ne!(expected, before, "the fixture must start NOINHERIT");
    let gone: Vec<_> = expected.difference(&after).collect();
    let new: Vec<_> = after.difference(&expected).collect();
    assert!(
        gone.is_empty() && new.is_empty(),
        "Supabase's objects changed beyond the INHERIT flip:\nexpected {gone:#?}\nfound {new:#?}"
    );

    let wiring = names(
        &mut s,
        "select m.roleid::regrole || ' -> ' || m.member::regrole from pg_catalog.pg_auth_members m
          where m.roleid in ('app_user'::regrole, 'app_admin'::regrole)",
    )
    .await;
    assert_eq!(
        wiring,
        set(["app_admin -> service_role", "app_user -> authenticated"])
    );

    assert_catalog(flavor, &options, "over Supabase objects").await;

    // Supabase's own auth.uid() body is what identifies the caller now: an account
    // added the Supabase way gets its profile, and the JWT's sub is the user id.
    let user = Uuid::new_v4();
    s.exec(&format!(
        "insert into auth.users (id, email, raw_user_meta_data)
         values ('{user}', 'someone@example.com', '{{\"first_name\": \"Some\"}}')"
    ))
    .await;
    s.exec(&become_sql(flavor, &Acting::As(Actor::User(user))))
        .await;
    assert_eq!(
        s.text("select core.get_current_user_id()::text").await,
        user.to_string()
    );
    assert_eq!(
        s.text("select first_name from public.get_user_profile()")
            .await,
        "Some"
    );
}
