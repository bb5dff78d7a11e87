//! A World: the users, organizations and everything they own, as plain Rust values.
//!
//! Entities refer to each other by position (`user: 3`), so the generator can shrink a
//! world by dropping entities without breaking it: a reference beyond the end wraps
//! around. [`World::normalize`] then applies SMTA's invariants that the generator does
//! not guarantee by construction (one membership per user and organization, one live
//! super admin per organization), and ids are derived from positions so that a shrunk
//! world prints readably.

use uuid::Uuid;

/// Kinds of entity, each with its own id prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    User = 0xa,
    Organization = 0xb,
    Unit = 0xc,
    Role = 0xd,
    Invitation = 0xe,
    File = 0xf,
    Membership = 0x1,
    UnitMembership = 0x2,
    Audit = 0x3,
    Secret = 0x4,
}

/// A readable, deterministic id: `bbbb0000-0000-4000-8000-000000000002` is
/// organization 2.
pub(crate) fn id(kind: Kind, index: usize) -> Uuid {
    let k = kind as u128;
    let prefix = (k << 12) | (k << 8) | (k << 4) | k;
    Uuid::from_u128((prefix << 112) | (0x4000u128 << 64) | (0x8000u128 << 48) | (index as u128 + 1))
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct World {
    pub users: Vec<User>,
    pub organizations: Vec<Organization>,
    pub units: Vec<Unit>,
    pub roles: Vec<OrgRole>,
    pub memberships: Vec<Membership>,
    pub unit_memberships: Vec<UnitMembership>,
    pub invitations: Vec<Invitation>,
    pub files: Vec<File>,
    pub audit: Vec<AuditEntry>,
    pub secrets: Vec<Secret>,
    /// Seeds of rows for tables the world does not model (platform, `app`, …), one
    /// list per such table in catalog order.
    pub generic: Vec<Vec<u16>>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct User {
    /// How the user's own email is capitalised (0: lower case).
    pub email_case: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Organization {
    pub name: u8,
    pub creator: usize,
    pub deleted: bool,
    /// The creator's (super admin's) membership was removed behind SMTA's back.
    pub creator_left: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Unit {
    pub organization: usize,
    pub name: u8,
    pub deleted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OrgRole {
    pub organization: usize,
    pub name: u8,
}

/// A role reference: one of the global built-ins or an organization's own role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RoleRef {
    Global(GlobalRole),
    Org(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum GlobalRole {
    SuperAdmin,
    Manager,
    Team,
}

impl GlobalRole {
    pub fn name(self) -> &'static str {
        match self {
            GlobalRole::SuperAdmin => "super_admin",
            GlobalRole::Manager => "manager",
            GlobalRole::Team => "team",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Membership {
    pub user: usize,
    pub organization: usize,
    pub role: RoleRef,
    pub super_admin: bool,
    pub deleted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UnitMembership {
    pub user: usize,
    pub unit: usize,
    pub role: RoleRef,
    pub deleted: bool,
}

/// Whom an invitation is addressed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Addressee {
    /// A user of the world, with the email capitalised differently (0: as the user has it).
    User { user: usize, case: u8 },
    /// Someone not in the world.
    Stranger,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Expired,
    Cancelled,
}

impl InvitationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InvitationStatus::Pending => "pending",
            InvitationStatus::Accepted => "accepted",
            InvitationStatus::Expired => "expired",
            InvitationStatus::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Invitation {
    pub organization: usize,
    pub unit: Option<usize>,
    pub inviter: usize,
    pub addressee: Addressee,
    pub role: RoleRef,
    pub status: InvitationStatus,
    /// `expires_at` lies in the past.
    pub past_expiry: bool,
    /// Soft-deleted (withdrawn without a status change).
    #[serde(default)]
    pub deleted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct File {
    pub organization: usize,
    pub deleted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditEntry {
    pub organization: usize,
    pub actor: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SecretOwner {
    Organization(usize),
    User(usize),
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Secret {
    pub owner: SecretOwner,
    pub name: u8,
}

/// Names are drawn from a tiny pool on purpose: equal names across tenants must not
/// confuse anything.
pub(crate) const NAMES: &[&str] = &["Acme", "Globex", "Initech", "Acme"];
pub(crate) const ROLE_NAMES: &[&str] = &["editor", "viewer", "manager"];

/// The fixed world of `fixtures/worlds/basic.json`: two organizations with a super
/// admin, a member, units, files, invitations, audit rows and secrets each, and a user
/// who belongs to none. Run-wide checks and snapshots use it, so their output does not
/// depend on the generator.
const BASIC: &str = include_str!("../../fixtures/worlds/basic.json");

/// What the RPC matrix adds to the fixture world (`fixtures/worlds/rpc_matrix.json`):
/// a plain member and a removed member of the target organization, soft-deleted rows,
/// an expired invitation, and a role and a secret of the other organization.
const RPC_MATRIX: &str = include_str!("../../fixtures/worlds/rpc_matrix.json");

impl World {
    /// The fixed fixture world (see `BASIC`), with `generic_tables` tables of generic
    /// rows (one row each, so platform and `app` tables are not empty).
    pub fn basic(generic_tables: usize) -> World {
        let mut world: World =
            serde_json::from_str(BASIC).expect("fixtures/worlds/basic.json is a World");
        world.generic = (0..generic_tables).map(|i| vec![i as u16]).collect();
        world.normalize()
    }

    /// The fixture world extended for the RPC matrix (see `RPC_MATRIX`): every kind of
    /// caller the matrix needs exists in it, relative to organization 0, and every
    /// kind of row it aims arguments at. `basic` keeps its entities and their ids.
    pub fn rpc_matrix(generic_tables: usize) -> World {
        let mut world: World =
            serde_json::from_str(BASIC).expect("fixtures/worlds/basic.json is a World");
        let extra: World =
            serde_json::from_str(RPC_MATRIX).expect("fixtures/worlds/rpc_matrix.json is a World");
        world.users.extend(extra.users);
        world.organizations.extend(extra.organizations);
        world.units.extend(extra.units);
        world.roles.extend(extra.roles);
        world.memberships.extend(extra.memberships);
        world.unit_memberships.extend(extra.unit_memberships);
        world.invitations.extend(extra.invitations);
        world.files.extend(extra.files);
        world.audit.extend(extra.audit);
        world.secrets.extend(extra.secrets);
        world.generic = (0..generic_tables).map(|i| vec![i as u16]).collect();
        world.normalize()
    }

    /// The user's email, capitalised the way `case` says (0 keeps it lower case).
    pub(crate) fn email(index: usize, case: u8) -> String {
        let base = format!("user{}@example.test", index + 1);
        match case % 3 {
            0 => base,
            1 => base.to_uppercase(),
            _ => {
                let mut s = base;
                s[..1].make_ascii_uppercase();
                s.replace("@example", "@Example")
            }
        }
    }

    /// Wraps every reference into range and enforces the invariants SMTA's schema
    /// guarantees, so that any generated (or shrunk) world is a possible state.
    pub(crate) fn normalize(mut self) -> Self {
        let users = self.users.len().max(1);
        let orgs = self.organizations.len().max(1);
        for org in &mut self.organizations {
            org.creator %= users;
        }
        for unit in &mut self.units {
            unit.organization %= orgs;
        }
        for role in &mut self.roles {
            role.organization %= orgs;
        }
        let role_count = self.roles.len();
        let wrap_role = |r: RoleRef| match r {
            RoleRef::Org(i) if role_count > 0 => RoleRef::Org(i % role_count),
            RoleRef::Org(_) => RoleRef::Global(GlobalRole::Team),
            RoleRef::Global(GlobalRole::SuperAdmin) => RoleRef::Global(GlobalRole::Manager),
            g => g,
        };

        // One membership per (user, organization); the creator's comes from the
        // organization itself.
        let mut seen: Vec<(usize, usize)> = self
            .organizations
            .iter()
            .enumerate()
            .map(|(i, o)| (o.creator, i))
            .collect();
        let mut memberships = Vec::new();
        for mut m in std::mem::take(&mut self.memberships) {
            m.user %= users;
            m.organization %= orgs;
            if seen.contains(&(m.user, m.organization)) {
                continue;
            }
            seen.push((m.user, m.organization));
            // A second super admin only where the creator has left; only a super
            // admin holds the super_admin role.
            let creator_left = self.organizations[m.organization].creator_left;
            m.super_admin = m.super_admin && creator_left && !m.deleted;
            m.role = if m.super_admin {
                RoleRef::Global(GlobalRole::SuperAdmin)
            } else {
                wrap_role(m.role)
            };
            memberships.push(m);
        }
        for org in 0..self.organizations.len() {
            let mut first = true;
            for m in memberships
                .iter_mut()
                .filter(|m| m.organization == org && m.super_admin)
            {
                if !first {
                    m.super_admin = false;
                    m.role = RoleRef::Global(GlobalRole::Manager);
                }
                first = false;
            }
        }
        self.memberships = memberships;

        let units = self.units.len();
        let mut unit_seen = Vec::new();
        let mut unit_memberships = Vec::new();
        for mut um in std::mem::take(&mut self.unit_memberships) {
            if units == 0 {
                break;
            }
            um.user %= users;
            um.unit %= units;
            um.role = wrap_role(um.role);
            if unit_seen.contains(&(um.user, um.unit)) {
                continue;
            }
            unit_seen.push((um.user, um.unit));
            unit_memberships.push(um);
        }
        self.unit_memberships = unit_memberships;

        for inv in &mut self.invitations {
            inv.organization %= orgs;
            inv.inviter %= users;
            inv.role = wrap_role(inv.role);
            inv.unit = match (inv.unit, units) {
                (Some(u), n) if n > 0 => Some(u % n),
                _ => None,
            };
            if let Addressee::User { user, .. } = &mut inv.addressee {
                *user %= users;
            }
        }
        for file in &mut self.files {
            file.organization %= orgs;
        }
        for entry in &mut self.audit {
            entry.organization %= orgs;
            entry.actor %= users;
        }
        let mut secret_seen = Vec::new();
        self.secrets.retain_mut(|s| {
            s.owner = match s.owner {
                SecretOwner::Organization(o) => SecretOwner::Organization(o % orgs),
                SecretOwner::User(u) => SecretOwner::User(u % users),
            };
            let key = (s.owner, s.name % 3);
            let fresh = !secret_seen.contains(&key);
            secret_seen.push(key);
            fresh
        });
        self
    }

    /// Total entities, a rough measure of size for reports and benchmarks.
    pub fn size(&self) -> usize {
        self.users.len()
            + self.organizations.len()
            + self.units.len()
            + self.roles.len()
            + self.memberships.len()
            + self.unit_memberships.len()
            + self.invitations.len()
            + self.files.len()
            + self.audit.len()
            + self.secrets.len()
            + self.generic.iter().map(Vec::len).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_readable_and_distinct_per_kind() {
        assert_eq!(
            id(Kind::Organization, 1).to_string(),
            "bbbb0000-0000-4000-8000-000000000002"
        );
        assert_eq!(
            id(Kind::User, 0).to_string(),
            "aaaa0000-0000-4000-8000-000000000001"
        );
        assert_ne!(id(Kind::Unit, 0), id(Kind::File, 0));
    }

    #[test]
    fn the_basic_fixture_world_is_already_normal() {
        let world = World::basic(2);
        assert_eq!(world.clone().normalize(), world);
        assert_eq!(world.users.len(), 4);
    }

    #[test]
    fn the_rpc_matrix_world_extends_the_fixture_world_and_is_normal() {
        let basic = World::basic(2);
        let world = World::rpc_matrix(2);
        assert_eq!(world.clone().normalize(), world);
        assert_eq!(world.users.len(), 6);
        assert_eq!(world.users[..4], basic.users[..]);
        assert_eq!(world.organizations[..2], basic.organizations[..]);
        assert_eq!(
            world.memberships.len(),
            basic.memberships.len() + 2,
            "the plain and the removed member survive normalization"
        );
        assert!(world.memberships.iter().any(|m| m.user == 5 && m.deleted));
    }

    #[test]
    fn emails_differ_only_in_case() {
        let a = World::email(2, 0);
        for case in 0..3 {
            assert_eq!(World::email(2, case).to_lowercase(), a);
        }
        assert_ne!(World::email(2, 1), a);
    }

    fn tiny() -> World {
        World {
            users: vec![User { email_case: 0 }, User { email_case: 1 }],
            organizations: vec![Organization {
                name: 0,
                creator: 0,
                deleted: false,
                creator_left: false,
            }],
            units: vec![],
            roles: vec![],
            memberships: vec![],
            unit_memberships: vec![],
            invitations: vec![],
            files: vec![],
            audit: vec![],
            secrets: vec![],
            generic: vec![],
        }
    }

    #[test]
    fn normalizing_drops_duplicate_memberships_and_extra_super_admins() {
        let mut w = tiny();
        let m = |user, super_admin| Membership {
            user,
            organization: 0,
            role: RoleRef::Global(GlobalRole::Team),
            super_admin,
            deleted: false,
        };
        // The creator (user 0) already has a membership; user 3 wraps to user 1.
        w.memberships = vec![m(0, false), m(1, true), m(3, false)];
        let w = w.normalize();
        assert_eq!(w.memberships.len(), 1);
        assert_eq!(w.memberships[0].user, 1);
        assert!(
            !w.memberships[0].super_admin,
            "the creator is still the super admin"
        );
    }
}
