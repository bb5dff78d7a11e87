//! proptest strategies for Worlds that reach the cases that break real policies.
//!
//! Sizes stay small (2–8 users, 1–4 organizations) because every case is checked as
//! every actor against every table; variety comes from the shapes instead: users in
//! several organizations or in none, soft-deleted memberships, organizations, units
//! and files, unit memberships of users who left the organization, organizations whose
//! super admin left, invitations in every status with emails in other letter cases,
//! equal names across tenants. Entities are independent vectors with wrapping
//! references, so proptest shrinks a failure to a minimal world.

use proptest::prelude::*;

use super::model::*;

/// Bounds of a generated world; the defaults are SPEC's.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    pub(crate) users: (usize, usize),
    pub(crate) organizations: (usize, usize),
    /// Each of units, memberships, invitations, … has at most this many entries.
    pub(crate) max_each: usize,
    /// Tables the world does not model, each seeded with up to `max_generic` rows.
    pub(crate) generic_tables: usize,
    pub(crate) max_generic: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Self {
            users: (2, 8),
            organizations: (1, 4),
            max_each: 8,
            generic_tables: 0,
            max_generic: 3,
        }
    }
}

fn sometimes(percent: u32) -> impl Strategy<Value = bool> {
    proptest::bool::weighted(f64::from(percent) / 100.0)
}

fn role_ref() -> impl Strategy<Value = RoleRef> {
    prop_oneof![
        3 => prop_oneof![Just(GlobalRole::Manager), Just(GlobalRole::Team), Just(GlobalRole::SuperAdmin)]
            .prop_map(RoleRef::Global),
        1 => (0usize..4).prop_map(RoleRef::Org),
    ]
}

fn user() -> impl Strategy<Value = User> {
    (0u8..3).prop_map(|email_case| User { email_case })
}

fn organization() -> impl Strategy<Value = Organization> {
    (0u8..4, 0usize..8, sometimes(15), sometimes(15)).prop_map(
        |(name, creator, deleted, creator_left)| Organization {
            name,
            creator,
            deleted,
            creator_left,
        },
    )
}

fn unit() -> impl Strategy<Value = Unit> {
    (0usize..4, 0u8..4, sometimes(15)).prop_map(|(organization, name, deleted)| Unit {
        organization,
        name,
        deleted,
    })
}

fn org_role() -> impl Strategy<Value = OrgRole> {
    (0usize..4, 0u8..3).prop_map(|(organization, name)| OrgRole { organization, name })
}

fn membership() -> impl Strategy<Value = Membership> {
    (
        0usize..8,
        0usize..4,
        role_ref(),
        sometimes(20),
        sometimes(20),
    )
        .prop_map(
            |(user, organization, role, super_admin, deleted)| Membership {
                user,
                organization,
                role,
                super_admin,
                deleted,
            },
        )
}

fn unit_membership() -> impl Strategy<Value = UnitMembership> {
    (0usize..8, 0usize..8, role_ref(), sometimes(15)).prop_map(|(user, unit, role, deleted)| {
        UnitMembership {
            user,
            unit,
            role,
            deleted,
        }
    })
}

fn invitation() -> impl Strategy<Value = Invitation> {
    let addressee = prop_oneof![
        4 => (0usize..8, 0u8..3).prop_map(|(user, case)| Addressee::User { user, case }),
        1 => Just(Addressee::Stranger),
    ];
    let status = prop_oneof![
        4 => Just(InvitationStatus::Pending),
        1 => Just(InvitationStatus::Accepted),
        1 => Just(InvitationStatus::Expired),
        1 => Just(InvitationStatus::Cancelled),
    ];
    (
        0usize..4,
        proptest::option::weighted(0.3, 0usize..8),
        0usize..8,
        addressee,
        role_ref(),
        status,
        sometimes(15),
        sometimes(10),
    )
        .prop_map(
            |(organization, unit, inviter, addressee, role, status, past_expiry, deleted)| {
                Invitation {
                    organization,
                    unit,
                    inviter,
                    addressee,
                    role,
                    status,
                    past_expiry,
                    deleted,
                }
            },
        )
}

fn file() -> impl Strategy<Value = File> {
    (0usize..4, sometimes(15)).prop_map(|(organization, deleted)| File {
        organization,
        deleted,
    })
}

fn audit_entry() -> impl Strategy<Value = AuditEntry> {
    (0usize..4, 0usize..8).prop_map(|(organization, actor)| AuditEntry {
        organization,
        actor,
    })
}

fn secret() -> impl Strategy<Value = Secret> {
    let owner = prop_oneof![
        (0usize..4).prop_map(SecretOwner::Organization),
        (0usize..8).prop_map(SecretOwner::User),
    ];
    (owner, 0u8..3).prop_map(|(owner, name)| Secret { owner, name })
}

/// Worlds within `bounds`, normalized.
pub(crate) fn worlds(bounds: Bounds) -> impl Strategy<Value = World> {
    let each = 0..=bounds.max_each;
    let people = (
        prop::collection::vec(user(), bounds.users.0..=bounds.users.1),
        prop::collection::vec(
            organization(),
            bounds.organizations.0..=bounds.organizations.1,
        ),
        prop::collection::vec(unit(), each.clone()),
        prop::collection::vec(org_role(), 0..=3),
        prop::collection::vec(membership(), 0..=bounds.max_each + 4),
        prop::collection::vec(unit_membership(), each.clone()),
    );
    let things = (
        prop::collection::vec(invitation(), each.clone()),
        prop::collection::vec(file(), 0..=bounds.max_each / 2),
        prop::collection::vec(audit_entry(), 0..=bounds.max_each / 2),
        prop::collection::vec(secret(), 0..=bounds.max_each / 2),
        prop::collection::vec(
            prop::collection::vec(any::<u16>(), 0..=bounds.max_generic),
            bounds.generic_tables,
        ),
    );
    (people, things).prop_map(
        |(
            (users, organizations, units, roles, memberships, unit_memberships),
            (invitations, files, audit, secrets, generic),
        )| {
            World {
                users,
                organizations,
                units,
                roles,
                memberships,
                unit_memberships,
                invitations,
                files,
                audit,
                secrets,
                generic,
            }
            .normalize()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    #[test]
    fn generated_worlds_stay_within_bounds_and_normalized() {
        let mut runner = TestRunner::deterministic();
        for _ in 0..200 {
            let world = worlds(Bounds::default())
                .new_tree(&mut runner)
                .unwrap()
                .current();
            assert!((2..=8).contains(&world.users.len()));
            assert!((1..=4).contains(&world.organizations.len()));
            for m in &world.memberships {
                assert!(m.user < world.users.len() && m.organization < world.organizations.len());
            }
            assert_eq!(
                world.clone().normalize(),
                world,
                "normalizing is idempotent"
            );
        }
    }

    #[test]
    fn the_shapes_that_break_policies_do_occur() {
        let mut runner = TestRunner::deterministic();
        let (mut multi_org_user, mut orphan_user, mut left_org, mut case_variant) =
            (false, false, false, false);
        for _ in 0..300 {
            let w = worlds(Bounds::default())
                .new_tree(&mut runner)
                .unwrap()
                .current();
            for u in 0..w.users.len() {
                let orgs = w.organizations.iter().filter(|o| o.creator == u).count()
                    + w.memberships.iter().filter(|m| m.user == u).count();
                multi_org_user |= orgs >= 2;
                orphan_user |= orgs == 0;
            }
            left_org |= w.organizations.iter().any(|o| o.creator_left);
            case_variant |= w
                .invitations
                .iter()
                .any(|i| matches!(i.addressee, Addressee::User { case, .. } if case != 0));
        }
        assert!(multi_org_user && orphan_user && left_org && case_variant);
    }
}
