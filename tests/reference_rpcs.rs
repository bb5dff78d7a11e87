//! The reference schema's RPC contract (SPEC §2, §3), one case per entry point, in
//! both flavours: who may call it, who is refused, who sees nothing, and that every
//! successful mutation leaves exactly one audit row naming the caller and the
//! organization the change belongs to.
//!
//! Each test seeds a small fixed world as the superuser inside its own transaction
//! (two organizations, their super admins, two plain members, a member who left, an
//! invitee, a unit, a file, an invitation, secrets, products), then probes the call once per caller, each
//! probe in a savepoint that is rolled back, so every caller meets the same world.
//! Nothing is ever committed: the binary's tests share one database per flavour.

mod support;

use rstest::rstest;
use smta_verify::{Actor, Flavor};
use support::{become_sql, sqlstate, Acting, Session};
use uuid::Uuid;

/// The people of the fixed world, and the two callers that have no account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    /// Super admin of organization A (created it).
    Admin,
    /// Plain member (role `team`) of A and member of unit A.
    Member,
    /// Plain member of A, not in unit A; the inviter of the pending invitation.
    Colleague,
    /// Super admin of organization B: powerful, but in another tenant.
    Outsider,
    /// Was a plain member of A (and of unit A) and left: both memberships are
    /// soft-deleted, so A must treat them like a stranger.
    Former,
    /// Has a profile and the email the pending invitation is addressed to; no
    /// membership anywhere.
    Invitee,
    /// Not logged in: `anon` (supabase) or the harness's `smta_verify_anon` (payload).
    Anonymous,
    /// The client role without a user id (no `sub` claim / no `app.current_user_id`).
    Unidentified,
}

use Caller::*;

/// Which organization the audit row of a successful mutation must name.
#[derive(Debug, Clone, Copy)]
enum AuditOrg {
    /// The organization held by this world value (e.g. `org_a`).
    Of(&'static str),
    /// The id the RPC returned (a newly created organization).
    Returned,
    /// None: profiles and user-scoped secrets belong to no organization.
    Nobody,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Allowed callers get at least one row containing `shows` (a world value in
    /// braces, or literal text); no audit row is written.
    Read { shows: &'static str },
    /// Allowed callers succeed, `effect` (a boolean query, run as the superuser before
    /// the probe is rolled back) holds, and exactly one audit row is new.
    Write {
        table: &'static str,
        org: AuditOrg,
        effect: &'static str,
    },
}

/// One row of the case table. World values are written `{name}`; `{caller}` is the
/// probing caller's user id.
#[derive(Debug, Clone)]
struct Rpc {
    /// A call usable in FROM: `public.f(args)`.
    call: &'static str,
    kind: Kind,
    allowed: &'static [Caller],
    /// Refused with SQLSTATE 42501 (a check in the body, or no EXECUTE/USAGE).
    refused: &'static [Caller],
    /// Succeed but get no row (or only NULL).
    blind: &'static [Caller],
    /// Succeed (they see their own data) but no row contains the marker.
    hidden: &'static [Caller],
    hidden_marker: &'static str,
}

fn reads(call: &'static str, shows: &'static str) -> Rpc {
    Rpc {
        call,
        kind: Kind::Read { shows },
        allowed: &[],
        refused: &[],
        blind: &[],
        hidden: &[],
        hidden_marker: "",
    }
}

fn writes(call: &'static str, table: &'static str, org: AuditOrg, effect: &'static str) -> Rpc {
    Rpc {
        kind: Kind::Write { table, org, effect },
        ..reads(call, "")
    }
}

impl Rpc {
    fn by(self, allowed: &'static [Caller]) -> Self {
        Self { allowed, ..self }
    }
    fn refuses(self, refused: &'static [Caller]) -> Self {
        Self { refused, ..self }
    }
    fn blind(self, blind: &'static [Caller]) -> Self {
        Self { blind, ..self }
    }
    fn hides(self, hidden: &'static [Caller], marker: &'static str) -> Self {
        Self {
            hidden,
            hidden_marker: marker,
            ..self
        }
    }

    /// A row of the table that forgets a caller class of the brief is a table bug,
    /// not a pass: every case must say what the other tenant and an anonymous caller
    /// get, and no caller may appear twice.
    fn assert_well_formed(&self) {
        let all: Vec<Caller> = [self.allowed, self.refused, self.blind, self.hidden].concat();
        for required in [Outsider, Former, Anonymous, Unidentified] {
            assert!(
                all.contains(&required),
                "case {} says nothing about {required:?}",
                self.call
            );
        }
        for (i, c) in all.iter().enumerate() {
            assert!(
                !all[i + 1..].contains(c),
                "case {} lists {c:?} twice",
                self.call
            );
        }
    }
}

/// The fixed world of one test: named values, rendered into SQL or markers.
struct World {
    values: Vec<(&'static str, String)>,
    secret_values: [String; 2],
}

impl World {
    fn get(&self, name: &str) -> &str {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("the world has no value `{name}`"))
    }

    fn user(&self, caller: Caller) -> Option<Uuid> {
        let name = match caller {
            Admin => "admin",
            Member => "member",
            Colleague => "colleague",
            Outsider => "outsider",
            Former => "former",
            Invitee => "invitee",
            Anonymous | Unidentified => return None,
        };
        Some(self.get(name).parse().expect("user values are uuids"))
    }

    fn acting(&self, caller: Caller) -> Acting {
        match (caller, self.user(caller)) {
            (_, Some(id)) => Acting::As(Actor::User(id)),
            (Anonymous, None) => Acting::As(Actor::Anonymous),
            _ => Acting::Unidentified,
        }
    }

    /// Replaces `{name}` by the value, quoted as a SQL literal when `quote`.
    fn render(&self, template: &str, caller: Caller, quote: bool) -> String {
        let mut out = template.to_string();
        let caller_id = self.user(caller).map(|u| u.to_string());
        let pairs = self
            .values
            .iter()
            .map(|(n, v)| (*n, v.as_str()))
            .chain(caller_id.as_deref().map(|id| ("caller", id)));
        for (name, value) in pairs {
            let replacement = if quote {
                format!("'{value}'")
            } else {
                value.to_string()
            };
            out = out.replace(&format!("{{{name}}}"), &replacement);
        }
        assert!(
            !has_placeholder(&out),
            "unknown placeholder (or {{caller}} for a caller without an id) in {out}"
        );
        out
    }

    fn sql(&self, template: &str, caller: Caller) -> String {
        self.render(template, caller, true)
    }

    fn text(&self, template: &str, caller: Caller) -> String {
        self.render(template, caller, false)
    }

    /// Seeds the world as the superuser inside the session's transaction.
    async fn seed(s: &mut Session) -> World {
        let id = || Uuid::new_v4().to_string();
        let tag = Uuid::new_v4().simple().to_string();
        let mut values: Vec<(&'static str, String)> = [
            "admin",
            "member",
            "colleague",
            "outsider",
            "former",
            "invitee",
            "org_a",
            "org_b",
            "unit_a",
            "unit_b",
            "file_a",
            "invitation",
            "audit_row",
            "org_secret",
            "user_secret",
            "product",
        ]
        .into_iter()
        .map(|name| (name, id()))
        .collect();
        // Tokens are unique: a fixed one would make concurrent tests wait on each
        // other's uncommitted rows.
        values.push(("token", format!("{tag}{tag}")));
        values.push(("invitee_email", format!("Invitee.{tag}@Example.com")));
        values.push(("product_name", format!("Plan {tag}")));
        values.push(("hidden_product_name", format!("Retired plan {tag}")));
        let secret_values = [
            format!("org-plaintext-{tag}"),
            format!("user-plaintext-{tag}"),
        ];

        let v = |name: &str| {
            values
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        let people = [
            (v("admin"), format!("admin.{tag}@example.com")),
            (v("member"), format!("member.{tag}@example.com")),
            (v("colleague"), format!("colleague.{tag}@example.com")),
            (v("outsider"), format!("outsider.{tag}@example.com")),
            (v("former"), format!("former.{tag}@example.com")),
            // Invitations match case-insensitively; the stored email is lower case.
            (v("invitee"), v("invitee_email").to_lowercase()),
        ];
        // Supabase profiles come from auth.users (the sync trigger); Payload's backend
        // inserts them.
        let profiles: Vec<String> = people
            .iter()
            .map(|(id, email)| format!("('{id}', '{email}')"))
            .collect();
        let profiles_sql = match s.flavor {
            Flavor::Supabase => format!(
                "insert into auth.users (id, email) values {};",
                profiles.join(", ")
            ),
            Flavor::Payload => format!(
                "insert into core.users_meta (id, email) values {};",
                profiles.join(", ")
            ),
        };
        let seed = format!(
            "{profiles_sql}
            -- The organization trigger makes created_by the super admin.
            insert into core.organizations (id, name, created_by) values
              ('{org_a}', 'Organization A', '{admin}'),
              ('{org_b}', 'Organization B', '{outsider}');
            insert into core.memberships (user_id, organization_id, role_id) values
              ('{member}', '{org_a}', (select id from core.roles where organization_id is null and name = 'team')),
              ('{colleague}', '{org_a}', (select id from core.roles where organization_id is null and name = 'team')),
              ('{former}', '{org_a}', (select id from core.roles where organization_id is null and name = 'team'));
            insert into core.units (id, organization_id, name) values
              ('{unit_a}', '{org_a}', 'Unit A'), ('{unit_b}', '{org_b}', 'Unit B');
            insert into core.unit_memberships (user_id, unit_id, role_id) values
              ('{member}', '{unit_a}', (select id from core.roles where organization_id is null and name = 'team')),
              ('{former}', '{unit_a}', (select id from core.roles where organization_id is null and name = 'team'));
            -- Leaving soft-deletes both rows (what remove_member_from_organization does).
            update core.memberships set is_deleted = true, deleted_at = now(), deleted_by = '{former}'
             where user_id = '{former}';
            update core.unit_memberships set is_deleted = true, deleted_at = now(), deleted_by = '{former}'
             where user_id = '{former}';
            insert into core.organization_files (id, organization_id, file_url, file_type) values
              ('{file_a}', '{org_a}', 'https://files.example/logo.png', 'image/png');
            update core.organizations_meta set logo_file_id = '{file_a}' where id = '{org_a}';
            insert into core.invitations (id, email, organization_id, role_id, invited_by, token) values
              ('{invitation}', '{invitee_email}', '{org_a}',
               (select id from core.roles where organization_id is null and name = 'team'), '{colleague}', '{token}');
            insert into core.audit_logs (id, actor_id, organization_id, target_table, target_id, action, summary)
              values ('{audit_row}', '{admin}', '{org_a}', 'organizations', '{org_a}', 'create', 'seeded');
            insert into platform.tenant_secrets (id, scope, organization_id, user_id, secret_name, secret_ref) values
              ('{org_secret}', 'organization', '{org_a}', null, 'org-key', vault.store_secret('{org_value}')),
              ('{user_secret}', 'user', null, '{member}', 'user-key', vault.store_secret('{user_value}'));
            insert into platform.subscription_products (id, name, is_active) values
              ('{product}', '{product_name}', true), (gen_random_uuid(), '{hidden_product_name}', false);",
            org_a = v("org_a"),
            org_b = v("org_b"),
            admin = v("admin"),
            outsider = v("outsider"),
            member = v("member"),
            colleague = v("colleague"),
            former = v("former"),
            unit_a = v("unit_a"),
            unit_b = v("unit_b"),
            file_a = v("file_a"),
            invitation = v("invitation"),
            invitee_email = v("invitee_email"),
            token = v("token"),
            audit_row = v("audit_row"),
            org_secret = v("org_secret"),
            user_secret = v("user_secret"),
            org_value = secret_values[0],
            user_value = secret_values[1],
            product = v("product"),
            product_name = v("product_name"),
            hidden_product_name = v("hidden_product_name"),
        );
        s.exec(&seed).await;
        let secrets = [
            ("org_secret_ref", v("org_secret")),
            ("user_secret_ref", v("user_secret")),
        ];

        for role in ["super_admin", "manager", "team"] {
            let role_id = s
                .text(&format!(
                    "select id::text from core.roles where organization_id is null and name = '{role}'"
                ))
                .await;
            values.push((role, role_id));
        }
        for (name, secret) in secrets {
            let reference = s
                .text(&format!(
                    "select secret_ref::text from platform.tenant_secrets where id = '{secret}'"
                ))
                .await;
            values.push((name, reference));
        }
        World {
            values,
            secret_values,
        }
    }
}

/// True when `text` still holds a `{name}` placeholder (JSON literals never match:
/// their keys are quoted).
fn has_placeholder(text: &str) -> bool {
    text.split('{').skip(1).any(|rest| {
        rest.split_once('}').is_some_and(|(name, _)| {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        })
    })
}

/// What one caller got from one call.
#[derive(Debug)]
struct Observation {
    /// Each row as JSON text (NULL for a NULL scalar), or (SQLSTATE, message).
    result: Result<Vec<Option<String>>, (Option<String>, String)>,
    /// New audit rows: (actor_id, organization_id or "NULL", target_table).
    audit: Vec<(String, String, String)>,
    /// The case's effect query, for a successful write.
    effect: Option<bool>,
}

impl Observation {
    fn rows_containing(&self, marker: &str) -> usize {
        match &self.result {
            Ok(rows) => rows
                .iter()
                .flatten()
                .filter(|row| row.contains(marker))
                .count(),
            Err(_) => 0,
        }
    }
}

/// Calls the case's function as `caller` inside a savepoint, inspects what changed as
/// the superuser, then rolls everything back.
async fn probe(s: &mut Session, world: &World, rpc: &Rpc, caller: Caller) -> Observation {
    let known_audit = s
        .text("select coalesce(string_agg(id::text, ','), '') from core.audit_logs")
        .await;
    s.exec("SAVEPOINT probe").await;
    s.exec(&become_sql(s.flavor, &world.acting(caller))).await;
    let call = world.sql(rpc.call, caller);
    let result = s
        .try_texts(&format!("select to_jsonb(r)::text from {call} as r"))
        .await
        .map_err(|e| (sqlstate(&e), e.to_string()));
    let mut audit = Vec::new();
    let mut effect = None;
    if result.is_ok() {
        s.exec("RESET ROLE").await;
        let rows = s
            .texts(&format!(
                "select concat_ws(' ', actor_id::text, coalesce(organization_id::text, 'NULL'), target_table)
                 from core.audit_logs
                 where id::text <> all (string_to_array('{known_audit}', ','))"
            ))
            .await;
        audit = rows
            .into_iter()
            .flatten()
            .map(|row| {
                let parts: Vec<&str> = row.split(' ').collect();
                (parts[0].into(), parts[1].into(), parts[2].into())
            })
            .collect();
        // A caller without an id has no `{caller}` to render; such a call is meant
        // to be refused, and the assertion on its result says so.
        if let Kind::Write { effect: query, .. } = rpc.kind {
            if world.user(caller).is_some() || !query.contains("{caller}") {
                effect = Some(s.truth(&world.sql(query, caller)).await);
            }
        }
    }
    s.exec("ROLLBACK TO SAVEPOINT probe; RELEASE SAVEPOINT probe")
        .await;
    Observation {
        result,
        audit,
        effect,
    }
}

#[rstest]
// --- profile --------------------------------------------------------------------
#[case::get_user_profile(
    reads("public.get_user_profile()", "{caller}")
        .by(&[Member, Outsider, Former, Invitee])
        .hides(&[Admin], "{outsider}")
        .blind(&[Unidentified])
        .refuses(&[Anonymous])
)]
#[case::update_user_profile(
    writes("public.update_user_profile('Ada', 'Lovelace')", "users_meta", AuditOrg::Nobody,
        "select first_name = 'Ada' and last_name = 'Lovelace' from core.users_meta where id = {caller}")
        .by(&[Member, Outsider, Former])
        .refuses(&[Anonymous, Unidentified])
)]
// --- organizations ----------------------------------------------------------------
#[case::create_organization(
    writes("public.create_organization('Made by RPC', 'in a test')", "organizations", AuditOrg::Returned,
        "select exists (select 1 from core.organizations o
           join core.memberships m on m.organization_id = o.id and m.user_id = {caller} and m.is_super_admin
           join core.organizations_meta om on om.id = o.id
           where o.name = 'Made by RPC')")
        .by(&[Member, Outsider, Former, Invitee])
        .refuses(&[Anonymous, Unidentified])
)]
#[case::list_my_organizations(
    reads("public.list_my_organizations()", "{org_a}")
        .by(&[Admin, Member, Colleague])
        .hides(&[Outsider, Former, Invitee], "{org_a}")
        .blind(&[Unidentified])
        .refuses(&[Anonymous])
)]
#[case::get_user_organizations(
    reads("public.get_user_organizations()", "{org_a}")
        .by(&[Admin, Member, Colleague])
        .hides(&[Outsider, Former, Invitee], "{org_a}")
        .blind(&[Unidentified])
        .refuses(&[Anonymous])
)]
#[case::get_organization(
    reads("public.get_organization({org_a})", "{org_a}")
        .by(&[Admin, Member])
        .blind(&[Outsider, Former, Invitee, Unidentified])
        .refuses(&[Anonymous])
)]
#[case::update_organization(
    writes("public.update_organization({org_a}, 'Renamed', 'New description')", "organizations",
        AuditOrg::Of("org_a"),
        "select name = 'Renamed' and description = 'New description' from core.organizations where id = {org_a}")
        .by(&[Admin])
        .refuses(&[Member, Colleague, Outsider, Former, Invitee, Anonymous, Unidentified])
)]
#[case::update_organization_meta(
    writes("public.update_organization_meta({org_a}, {file_a}, 'Main Street 1', 'Europe/Oslo', 'nb')",
        "organizations_meta", AuditOrg::Of("org_a"),
        "select address = 'Main Street 1' and timezone = 'Europe/Oslo' and locale = 'nb'
           from core.organizations_meta where id = {org_a}")
        .by(&[Admin])
        .refuses(&[Member, Outsider, Former, Anonymous, Unidentified])
)]
#[case::delete_organization(
    writes("public.delete_organization({org_a})", "organizations", AuditOrg::Of("org_a"),
        "select is_deleted from core.organizations where id = {org_a}")
        .by(&[Admin])
        .refuses(&[Member, Outsider, Former, Anonymous, Unidentified])
)]
#[case::list_organization_members(
    reads("public.list_organization_members({org_a})", "{colleague}")
        .by(&[Admin, Member])
        .blind(&[Outsider, Former, Invitee, Unidentified])
        .refuses(&[Anonymous])
)]
#[case::get_user_role(
    reads("public.get_user_role({org_a})", "\"team\"")
        .by(&[Member, Colleague])
        .blind(&[Outsider, Former, Invitee, Unidentified])
        .refuses(&[Anonymous])
)]
#[case::get_user_permissions(
    reads("public.get_user_permissions({org_a})", "OrganizationFile")
        .by(&[Member, Colleague])
        .blind(&[Outsider, Former, Invitee, Unidentified])
        .refuses(&[Anonymous])
)]
#[case::add_member_to_organization(
    writes("public.add_member_to_organization({org_a}, {invitee}, {manager})", "memberships",
        AuditOrg::Of("org_a"),
        "select exists (select 1 from core.memberships where organization_id = {org_a}
           and user_id = {invitee} and role_id = {manager} and not is_deleted and not is_super_admin)")
        .by(&[Admin])
        .refuses(&[Member, Outsider, Former, Invitee, Anonymous, Unidentified])
)]
#[case::update_member_role(
    writes("public.update_member_role({org_a}, {colleague}, {manager})", "memberships",
        AuditOrg::Of("org_a"),
        "select role_id = {manager} from core.memberships where organization_id = {org_a} and user_id = {colleague}")
        .by(&[Admin])
        .refuses(&[Member, Colleague, Outsider, Former, Anonymous, Unidentified])
)]
#[case::update_member_role_never_to_super_admin(
    writes("public.update_member_role({org_a}, {colleague}, {super_admin})", "memberships",
        AuditOrg::Of("org_a"), "select false")
        .refuses(&[Admin, Member, Outsider, Former, Anonymous, Unidentified])
)]
#[case::update_member_role_never_of_the_super_admin(
    writes("public.update_member_role({org_a}, {admin}, {manager})", "memberships",
        AuditOrg::Of("org_a"), "select false")
        .refuses(&[Admin, Member, Outsider, Former, Anonymous, Unidentified])
)]
#[case::remove_member_from_organization(
    writes("public.remove_member_from_organization({org_a}, {colleague})", "memberships",
        AuditOrg::Of("org_a"),
        "select is_deleted from core.memberships where organization_id = {org_a} and user_id = {colleague}")
        // The colleague removing themselves is leaving, which any member may do.
        .by(&[Admin, Colleague])
        .refuses(&[Member, Outsider, Former, Invitee, Anonymous, Unidentified])
)]
#[case::remove_member_from_organization_never_the_super_admin(
    writes("public.remove_member_from_organization({org_a}, {admin})", "memberships",
        AuditOrg::Of("org_a"), "select false")
        .refuses(&[Admin, Member, Outsider, Former, Anonymous, Unidentified])
)]
#[case::remove_user_from_organization(
    writes("public.remove_user_from_organization({colleague}, {org_a})", "memberships",
        AuditOrg::Of("org_a"),
        "select is_deleted from core.memberships where organization_id = {org_a} and user_id = {colleague}")
        .by(&[Admin, Colleague])
        .refuses(&[Member, Outsider, Former, Invitee, Anonymous, Unidentified])
)]
#[case::transfer_super_admin(
    writes("public.transfer_super_admin({org_a}, {member})", "memberships", AuditOrg::Of("org_a"),
        "select bool_and(is_super_admin = (user_id = {member})) and count(*) = 2
           from core.memberships where organization_id = {org_a} and user_id in ({member}, {admin})")
        .by(&[Admin])
        .refuses(&[Member, Colleague, Outsider, Former, Anonymous, Unidentified])
)]
// --- units ------------------------------------------------------------------------
#[case::create_unit(
    writes("public.create_unit({org_a}, 'Made by RPC', null)", "units", AuditOrg::Of("org_a"),
        "select exists (select 1 from core.units u join core.unit_meta m on m.id = u.id
           where u.organization_id = {org_a} and u.name = 'Made by RPC' and u.created_by = {caller})")
        .by(&[Admin, Member, Colleague])
        .refuses(&[Outsider, Former, Invitee, Anonymous, Unidentified])
)]
#[case::update_unit(
    writes("public.update_unit({unit_a}, 'Renamed unit', 'New description')", "units", AuditOrg::Of("org_a"),
        "select name = 'Renamed unit' from core.units where id = {unit_a}")
        .by(&[Admin, Member, Colleague])
        .refuses(&[Outsider, Former, Invitee, Anonymous, Unidentified])
)]
#[case::delete_unit(
    writes("public.delete_unit({unit_a})", "units", AuditOrg::Of("org_a"),
        "select is_deleted from core.units where id = {unit_a}")
        .by(&[Admin])
        .refuses(&[Member, Colleague, Outsider, Former, Anonymous, Unidentified])
)]
#[case::get_unit(
    reads("public.get_unit({unit_a})", "{unit_a}")
        .by(&[Admin, Member, Colleague])
        .blind(&[Outsider, Former, Invitee, Unidentified])
        .refuses(&[Anonymous])
)]
#[case::list_units(
    reads("public.list_units({org_a})", "{unit_a}")
        .by(&[Admin, Member, Colleague])
        .blind(&[Outsider, Former, Invitee, Unidentified])
        .refuses(&[Anonymous])
)]
#[case::list_my_units(
    reads("public.list_my_units()", "{unit_a}")
        .by(&[Member])
        .hides(&[Admin, Colleague, Outsider, Former], "{unit_a}")
        .blind(&[Unidentified])
        .refuses(&[Anonymous])
)]
#[case::get_user_units(
    reads("public.get_user_units({org_a})", "{unit_a}")
        .by(&[Member])
        .blind(&[Admin, Colleague, Outsider, Former, Unidentified])
        .refuses(&[Anonymous])
)]
#[case::list_unit_members(
    reads("public.list_unit_members({unit_a})", "{member}")
        .by(&[Admin, Member, Colleague])
        .blind(&[Outsider, Former, Invitee, Unidentified])
        .refuses(&[Anonymous])
)]
#[case::add_member_to_unit(
    writes("public.add_member_to_unit({unit_a}, {colleague}, {manager})", "unit_memberships",
        AuditOrg::Of("org_a"),
        "select exists (select 1 from core.unit_memberships where unit_id = {unit_a}
           and user_id = {colleague} and role_id = {manager} and not is_deleted)")
        .by(&[Admin])
        .refuses(&[Member, Colleague, Outsider, Former, Anonymous, Unidentified])
)]
#[case::update_unit_member_role(
    writes("public.update_unit_member_role({unit_a}, {member}, {manager})", "unit_memberships",
        AuditOrg::Of("org_a"),
        "select role_id = {manager} from core.unit_memberships where unit_id = {unit_a} and user_id = {member}")
        .by(&[Admin])
        .refuses(&[Member, Colleague, Outsider, Former, Anonymous, Unidentified])
)]
#[case::remove_member_from_unit(
    writes("public.remove_member_from_unit({unit_a}, {member})", "unit_memberships",
        AuditOrg::Of("org_a"),
        "select is_deleted from core.unit_memberships where unit_id = {unit_a} and user_id = {member}")
        .by(&[Admin])
        .refuses(&[Member, Colleague, Outsider, Former, Anonymous, Unidentified])
)]
#[case::assign_user_to_unit(
    writes("public.assign_user_to_unit({colleague}, {unit_a}, {manager})", "unit_memberships",
        AuditOrg::Of("org_a"),
        "select exists (select 1 from core.unit_memberships where unit_id = {unit_a}
           and user_id = {colleague} and role_id = {manager} and not is_deleted)")
        .by(&[Admin])
        .refuses(&[Member, Colleague, Outsider, Former, Anonymous, Unidentified])
)]
#[case::remove_user_from_unit(
    writes("public.remove_user_from_unit({member}, {unit_a})", "unit_memberships",
        AuditOrg::Of("org_a"),
        "select is_deleted from core.unit_memberships where unit_id = {unit_a} and user_id = {member}")
        .by(&[Admin])
        .refuses(&[Member, Colleague, Outsider, Former, Anonymous, Unidentified])
)]
#[case::get_user_unit_permissions(
    reads("public.get_user_unit_permissions({unit_a})", "OrganizationFile")
        .by(&[Member])
        .blind(&[Admin, Colleague, Outsider, Former, Unidentified])
        .refuses(&[Anonymous])
)]
// --- files ------------------------------------------------------------------------
#[case::create_file(
    writes("public.create_file({org_a}, 'https://files.example/report.pdf', 'application/pdf', 42, '{\"pages\": 3}')",
        "organization_files", AuditOrg::Of("org_a"),
        "select exists (select 1 from core.organization_files where organization_id = {org_a}
           and file_url = 'https://files.example/report.pdf' and file_size = 42 and created_by = {caller})")
        .by(&[Admin, Member, Colleague])
        .refuses(&[Outsider, Former, Invitee, Anonymous, Unidentified])
)]
#[case::update_file_metadata(
    writes("public.update_file_metadata({file_a}, '{\"width\": 640}', 2048)", "organization_files",
        AuditOrg::Of("org_a"),
        "select file_size = 2048 and file_specs = '{\"width\": 640}' from core.organization_files where id = {file_a}")
        .by(&[Admin, Member])
        .refuses(&[Outsider, Former, Invitee, Anonymous, Unidentified])
)]
#[case::get_file(
    reads("public.get_file({file_a})", "{file_a}")
        .by(&[Admin, Member])
        .blind(&[Outsider, Former, Invitee, Unidentified])
        .refuses(&[Anonymous])
)]
#[case::list_files(
    reads("public.list_files({org_a})", "{file_a}")
        .by(&[Admin, Member])
        .blind(&[Outsider, Former, Invitee, Unidentified])
        .refuses(&[Anonymous])
)]
#[case::delete_file(
    writes("public.delete_file({file_a})", "organization_files", AuditOrg::Of("org_a"),
        // A deleted file also stops being the organization's logo.
        "select f.is_deleted and om.logo_file_id is null
           from core.organization_files f join core.organizations_meta om on om.id = f.organization_id
          where f.id = {file_a}")
        .by(&[Admin, Member])
        .refuses(&[Outsider, Former, Invitee, Anonymous, Unidentified])
)]
// --- audit ------------------------------------------------------------------------
#[case::get_audit_log(
    reads("public.get_audit_log({org_a}, 10)", "{audit_row}")
        .by(&[Admin, Member, Colleague])
        .blind(&[Outsider, Former, Invitee, Unidentified])
        .refuses(&[Anonymous])
)]
// --- invitations ------------------------------------------------------------------
#[case::create_invitation(
    writes("public.create_invitation('new.person@example.com', {org_a}, null, {unit_a}, null)", "invitations",
        AuditOrg::Of("org_a"),
        "select exists (select 1 from core.invitations where organization_id = {org_a}
           and email = 'new.person@example.com' and invited_by = {caller} and status = 'pending'
           and length(token) = 64)")
        .by(&[Admin, Member, Colleague])
        .refuses(&[Outsider, Former, Invitee, Anonymous, Unidentified])
)]
#[case::create_invitation_never_to_super_admin(
    writes("public.create_invitation('new.person@example.com', {org_a}, {super_admin}, null, null)",
        "invitations", AuditOrg::Of("org_a"), "select false")
        .refuses(&[Admin, Member, Outsider, Former, Anonymous, Unidentified])
)]
#[case::accept_invitation(
    writes("public.accept_invitation({token})", "invitations", AuditOrg::Of("org_a"),
        "select i.status = 'accepted' and i.accepted_by = {invitee} and exists (
           select 1 from core.memberships m where m.organization_id = {org_a} and m.user_id = {invitee}
             and not m.is_deleted and not m.is_super_admin)
           from core.invitations i where i.id = {invitation}")
        .by(&[Invitee])
        .refuses(&[Admin, Member, Colleague, Outsider, Former, Anonymous, Unidentified])
)]
#[case::cancel_invitation(
    writes("public.cancel_invitation({invitation})", "invitations", AuditOrg::Of("org_a"),
        "select status = 'cancelled' from core.invitations where id = {invitation}")
        // The super admin and the inviter (the colleague).
        .by(&[Admin, Colleague])
        .refuses(&[Member, Outsider, Former, Invitee, Anonymous, Unidentified])
)]
#[case::resend_invitation(
    writes("public.resend_invitation({invitation})", "invitations", AuditOrg::Of("org_a"),
        "select status = 'pending' and token <> {token} from core.invitations where id = {invitation}")
        .by(&[Admin, Colleague])
        .refuses(&[Member, Outsider, Former, Invitee, Anonymous, Unidentified])
)]
#[case::list_invitations(
    reads("public.list_invitations({org_a}, null)", "{invitation}")
        .by(&[Admin, Colleague, Invitee])
        .blind(&[Member, Outsider, Former, Unidentified])
        .refuses(&[Anonymous])
)]
#[case::get_invitation_details(
    reads("public.get_invitation_details({token})", "{invitation}")
        // Holding the token is the authorization, signed in or not.
        .by(&[Member, Outsider, Former, Invitee, Unidentified, Anonymous])
)]
#[case::get_invitation_details_unknown_token(
    reads("public.get_invitation_details('not-a-token')", "")
        .blind(&[Admin, Outsider, Former, Invitee, Unidentified, Anonymous])
)]
// --- secrets ----------------------------------------------------------------------
#[case::create_secret_of_organization(
    writes("public.create_secret('organization', {org_a}, 'new-key', 'new-value')", "tenant_secrets",
        AuditOrg::Of("org_a"),
        "select vault.read_secret(secret_ref) = 'new-value' from platform.tenant_secrets
          where organization_id = {org_a} and secret_name = 'new-key'")
        .by(&[Admin])
        .refuses(&[Member, Colleague, Outsider, Former, Anonymous, Unidentified])
)]
#[case::create_secret_of_user(
    writes("public.create_secret('user', {member}, 'new-key', 'new-value')", "tenant_secrets",
        AuditOrg::Nobody,
        "select vault.read_secret(secret_ref) = 'new-value' from platform.tenant_secrets
          where user_id = {member} and secret_name = 'new-key'")
        .by(&[Member])
        .refuses(&[Admin, Colleague, Outsider, Former, Anonymous, Unidentified])
)]
#[case::delete_secret_of_organization(
    writes("public.delete_secret({org_secret})", "tenant_secrets", AuditOrg::Of("org_a"),
        "select not exists (select 1 from platform.tenant_secrets where id = {org_secret})
            and vault.read_secret({org_secret_ref}) is null")
        .by(&[Admin])
        .refuses(&[Member, Outsider, Former, Anonymous, Unidentified])
)]
#[case::delete_secret_of_user(
    writes("public.delete_secret({user_secret})", "tenant_secrets", AuditOrg::Nobody,
        "select not exists (select 1 from platform.tenant_secrets where id = {user_secret})
            and vault.read_secret({user_secret_ref}) is null")
        .by(&[Member])
        .refuses(&[Admin, Outsider, Former, Anonymous, Unidentified])
)]
#[case::list_secrets_of_organization(
    reads("public.list_secrets('organization', {org_a})", "{org_secret}")
        .by(&[Admin])
        .refuses(&[Member, Outsider, Former, Anonymous, Unidentified])
)]
#[case::list_secrets_of_user(
    reads("public.list_secrets('user', {member})", "{user_secret}")
        .by(&[Member])
        .refuses(&[Admin, Outsider, Former, Anonymous, Unidentified])
)]
// --- products ---------------------------------------------------------------------
#[case::list_subscription_products(
    reads("public.list_subscription_products()", "{product_name}")
        .by(&[Member, Outsider, Former, Unidentified, Anonymous])
        .hides(&[Invitee], "{hidden_product_name}")
)]
#[tokio::test]
async fn rpc_contract(
    #[case] rpc: Rpc,
    #[values(Flavor::Supabase, Flavor::Payload)] flavor: Flavor,
) {
    rpc.assert_well_formed();
    let mut s = Session::begin(flavor).await;
    let world = World::seed(&mut s).await;
    let context = |caller: Caller, seen: &Observation| {
        format!(
            "{flavor}: {} as {caller:?}\nobserved: {seen:#?}",
            world.sql(rpc.call, caller)
        )
    };

    let callers = [rpc.allowed, rpc.refused, rpc.blind, rpc.hidden].concat();
    for caller in callers {
        let seen = probe(&mut s, &world, &rpc, caller).await;
        let why = context(caller, &seen);

        // No RPC ever hands out a secret's value, whoever calls it.
        for value in &world.secret_values {
            assert_eq!(
                seen.rows_containing(value),
                0,
                "a secret value leaked: {why}"
            );
        }

        // The payload flavour has no anonymous database role: SMTA grants nothing to
        // PUBLIC, so the harness's login without grants is refused everything.
        let refused =
            rpc.refused.contains(&caller) || (flavor == Flavor::Payload && caller == Anonymous);
        if refused {
            let code = seen
                .result
                .as_ref()
                .err()
                .and_then(|(code, _)| code.clone());
            assert_eq!(code.as_deref(), Some("42501"), "expected a refusal: {why}");
            continue;
        }
        let rows = match &seen.result {
            Ok(rows) => rows,
            Err(_) => panic!("expected the call to succeed: {why}"),
        };
        if rpc.blind.contains(&caller) {
            assert!(rows.iter().all(Option::is_none), "expected nothing: {why}");
        }
        if rpc.hidden.contains(&caller) {
            let marker = world.text(rpc.hidden_marker, caller);
            assert_eq!(seen.rows_containing(&marker), 0, "saw {marker}: {why}");
        }
        if !rpc.allowed.contains(&caller) {
            assert!(seen.audit.is_empty(), "a read wrote audit rows: {why}");
            continue;
        }
        match rpc.kind {
            Kind::Read { shows } => {
                let marker = world.text(shows, caller);
                assert!(
                    seen.rows_containing(&marker) > 0,
                    "expected {marker}: {why}"
                );
                assert!(seen.audit.is_empty(), "a read wrote audit rows: {why}");
            }
            Kind::Write { table, org, .. } => {
                assert_eq!(seen.effect, Some(true), "the change did not happen: {why}");
                let org = match org {
                    AuditOrg::Of(name) => world.get(name).to_string(),
                    AuditOrg::Nobody => "NULL".to_string(),
                    AuditOrg::Returned => {
                        let first = rows.first().cloned().flatten().unwrap_or_default();
                        serde_json::from_str::<String>(&first)
                            .unwrap_or_else(|_| panic!("expected a returned id: {why}"))
                    }
                };
                let actor = world.user(caller).expect("writers are users").to_string();
                assert_eq!(
                    seen.audit,
                    vec![(actor, org, table.to_string())],
                    "expected exactly one audit row (actor, organization, table): {why}"
                );
            }
        }
    }
}
