//! Two promises of SPEC §3 that hold for every role, checked on the reference schema
//! in both flavours: audit logs are immutable (for clients, the service and the table
//! owner alike), and anonymous callers and PUBLIC reach no table in any schema.

mod support;

use rstest::rstest;
use smta_verify::{Actor, Flavor};
use support::{become_sql, sqlstate, Acting, Session};
use tokio::sync::RwLock;
use uuid::Uuid;

/// TRUNCATE takes an ACCESS EXCLUSIVE lock before its trigger refuses it, and every
/// audit test holds a lock on core.audit_logs from its seeded row until it rolls
/// back. A TRUNCATE attempt beside another audit test would wait for it, and two
/// would wait for each other (a deadlock), so TRUNCATE attempts run alone; the other
/// tests of this binary never lock the table.
static AUDIT_TABLE: RwLock<()> = RwLock::const_new(());

/// Who tries to rewrite history.
#[derive(Debug, Clone, Copy)]
enum Writer {
    /// An end user who is a member of the organization (may read the row).
    Client,
    /// The flavour's service login: service_role (supabase) or app_admin (payload).
    Service,
    /// The app_admin group role itself (in supabase, what service_role inherits).
    AppAdmin,
    /// The table owner: the superuser the harness connects as.
    Owner,
    /// The owner after `SET session_replication_role = replica`, which silences
    /// ordinary triggers (superusers may, and managed services often let their admin
    /// role do it for bulk imports).
    OwnerAsReplica,
}

#[rstest]
#[case::supabase_authenticated(Flavor::Supabase, Writer::Client)]
#[case::supabase_service_role(Flavor::Supabase, Writer::Service)]
#[case::supabase_app_admin(Flavor::Supabase, Writer::AppAdmin)]
#[case::supabase_owner(Flavor::Supabase, Writer::Owner)]
#[case::supabase_owner_as_replica(Flavor::Supabase, Writer::OwnerAsReplica)]
#[case::payload_app_user(Flavor::Payload, Writer::Client)]
#[case::payload_app_admin(Flavor::Payload, Writer::Service)]
#[case::payload_owner(Flavor::Payload, Writer::Owner)]
#[case::payload_owner_as_replica(Flavor::Payload, Writer::OwnerAsReplica)]
#[tokio::test]
async fn audit_logs_are_immutable(
    #[case] flavor: Flavor,
    #[case] writer: Writer,
    #[values(
        "update core.audit_logs set summary = 'rewritten' where id = {row}",
        "update core.audit_logs set actor_id = gen_random_uuid()",
        // A statement that matches no row is refused too (statement-level guard).
        "update core.audit_logs set summary = 'rewritten' where false",
        "delete from core.audit_logs where id = {row}",
        "delete from core.audit_logs where false",
        "truncate core.audit_logs"
    )]
    statement: &str,
) {
    let (_alone, _shared);
    if statement.starts_with("truncate") {
        _alone = AUDIT_TABLE.write().await;
    } else {
        _shared = AUDIT_TABLE.read().await;
    }
    let mut s = Session::begin(flavor).await;
    let user = Uuid::new_v4();
    let org = Uuid::new_v4();
    let row = Uuid::new_v4();
    let profile = match flavor {
        Flavor::Supabase => {
            format!("insert into auth.users (id, email) values ('{user}', 'a@example.com');")
        }
        Flavor::Payload => {
            format!("insert into core.users_meta (id, email) values ('{user}', 'a@example.com');")
        }
    };
    s.exec(&format!(
        "{profile}
         insert into core.organizations (id, name, created_by) values ('{org}', 'Audited', '{user}');
         insert into core.audit_logs (id, actor_id, organization_id, target_table, target_id, action, summary)
         values ('{row}', '{user}', '{org}', 'organizations', '{org}', 'create', 'original');"
    ))
    .await;

    let become_writer = match (flavor, writer) {
        (_, Writer::Client) => become_sql(flavor, &Acting::As(Actor::User(user))),
        (_, Writer::Service) => become_sql(flavor, &Acting::As(Actor::Service)),
        (_, Writer::AppAdmin) => "SET LOCAL ROLE app_admin;".to_string(),
        (_, Writer::Owner) => String::new(),
        (_, Writer::OwnerAsReplica) => "SET LOCAL session_replication_role = replica;".to_string(),
    };
    let statement = statement.replace("{row}", &format!("'{row}'"));
    s.exec("SAVEPOINT attempt").await;
    s.exec(&become_writer).await;
    let result = s.try_exec(&statement).await;
    s.exec("ROLLBACK TO SAVEPOINT attempt; RELEASE SAVEPOINT attempt")
        .await;
    let code = result.as_ref().err().and_then(sqlstate);
    assert_eq!(
        code.as_deref(),
        Some("42501"),
        "{flavor}, {writer:?}: `{statement}` must be refused, got {result:?}"
    );
    // The client can see the row, so a refusal is not just an invisible target.
    if matches!(writer, Writer::Client) {
        s.exec(&format!("SAVEPOINT look; {become_writer}")).await;
        let visible = s
            .texts(&format!(
                "select summary from core.audit_logs where id = '{row}'"
            ))
            .await;
        s.exec("ROLLBACK TO SAVEPOINT look; RELEASE SAVEPOINT look")
            .await;
        assert_eq!(visible, vec![Some("original".to_string())], "{flavor}");
    }
    s.exec("ROLLBACK").await;
}

/// Every relation of every non-system schema, with a column to name in an UPDATE.
const RELATIONS_SQL: &str = "
select format('%s %I', c.oid::regclass, (
         select a.attname from pg_catalog.pg_attribute a
          where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
          order by a.attnum limit 1))
  from pg_catalog.pg_class c
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
 where c.relkind in ('r', 'p', 'v', 'm', 'f')
   and n.nspname not in ('pg_catalog', 'information_schema')
   and n.nspname !~ '^pg_(toast|temp)'
 order by 1";

#[rstest]
#[tokio::test]
async fn anonymous_and_public_reach_no_table(
    #[values(Flavor::Supabase, Flavor::Payload)] flavor: Flavor,
    #[values(Actor::Anonymous, Actor::PublicOnly)] actor: Actor,
) {
    let mut s = Session::begin(flavor).await;
    let relations: Vec<String> = s.texts(RELATIONS_SQL).await.into_iter().flatten().collect();
    // 11 core + 12 platform + 2 vault (+ auth.users): an empty list would prove nothing.
    assert!(relations.len() >= 25, "{flavor}: only {relations:?}");
    let acting = Acting::As(actor.clone());
    let mut reached = Vec::new();
    for relation in &relations {
        let (table, column) = relation.split_once(' ').expect("table and column");
        for statement in [
            format!("select * from {table} limit 1"),
            format!("insert into {table} default values"),
            format!("update {table} set {column} = {column}"),
            format!("delete from {table}"),
        ] {
            s.exec("SAVEPOINT attempt").await;
            s.exec(&become_sql(flavor, &acting)).await;
            let result = s.try_exec(&statement).await;
            s.exec("ROLLBACK TO SAVEPOINT attempt; RELEASE SAVEPOINT attempt")
                .await;
            let code = result.as_ref().err().and_then(sqlstate);
            if code.as_deref() != Some("42501") {
                reached.push(format!("{statement}: {result:?}"));
            }
        }
    }
    assert!(
        reached.is_empty(),
        "{flavor}, {actor}: not refused with 42501:\n{}",
        reached.join("\n")
    );

    // No CREATE anywhere, and EXECUTE only on what SPEC opens to anonymous callers:
    // supabase's anon the two open RPCs, everyone else nothing at all.
    let role = match (flavor, &actor) {
        (Flavor::Supabase, Actor::Anonymous) => "anon",
        (Flavor::Payload, Actor::Anonymous) => "smta_verify_anon",
        _ => "smta_verify_public",
    };
    let creatable = s
        .texts(&format!(
            "select n.nspname::text from pg_catalog.pg_namespace n
              where pg_catalog.has_schema_privilege('{role}', n.oid, 'CREATE')"
        ))
        .await;
    assert!(creatable.is_empty(), "{role} may CREATE in {creatable:?}");
    let executable: Vec<String> = s
        .texts(&format!(
            "select p.oid::regprocedure::text from pg_catalog.pg_proc p
               join pg_catalog.pg_namespace n on n.oid = p.pronamespace
              where n.nspname not in ('pg_catalog', 'information_schema')
                and pg_catalog.has_function_privilege('{role}', p.oid, 'EXECUTE')
              order by 1"
        ))
        .await
        .into_iter()
        .flatten()
        .collect();
    let expected: &[&str] = if role == "anon" {
        &[
            "get_invitation_details(text)",
            "list_subscription_products()",
        ]
    } else {
        &[]
    };
    assert_eq!(
        executable, expected,
        "{flavor}: functions {role} may execute"
    );
    s.exec("ROLLBACK").await;
}
