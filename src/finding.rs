//! Findings: what a check reports, in the words a security reviewer reads.
//!
//! Every check returns `Finding` values and never prints; the report module renders
//! them. Check IDs are the stable names of SPEC §5 — they appear in report.json, JUnit,
//! SARIF and in users' `--fail-on` policies, so they never change meaning.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::world::model::World;

/// The stable check identifiers (SPEC §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum CheckId {
    RlsDisabled,
    PublicTableAccess,
    PublicSchemaObject,
    PlatformExposed,
    CrossTenantRead,
    CrossTenantWrite,
    UnauthorizedRead,
    UnauthorizedWrite,
    PrivilegeEscalation,
    SoftDeletedAccess,
    AuditMutable,
    AuditForgeable,
    AuditMissing,
    DefinerSearchPath,
    FunctionExposed,
    RpcCrossTenant,
    BypassRole,
    OverRestriction,
}

impl CheckId {
    pub const ALL: [CheckId; 18] = [
        CheckId::RlsDisabled,
        CheckId::PublicTableAccess,
        CheckId::PublicSchemaObject,
        CheckId::PlatformExposed,
        CheckId::CrossTenantRead,
        CheckId::CrossTenantWrite,
        CheckId::UnauthorizedRead,
        CheckId::UnauthorizedWrite,
        CheckId::PrivilegeEscalation,
        CheckId::SoftDeletedAccess,
        CheckId::AuditMutable,
        CheckId::AuditForgeable,
        CheckId::AuditMissing,
        CheckId::DefinerSearchPath,
        CheckId::FunctionExposed,
        CheckId::RpcCrossTenant,
        CheckId::BypassRole,
        CheckId::OverRestriction,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CheckId::RlsDisabled => "rls-disabled",
            CheckId::PublicTableAccess => "public-table-access",
            CheckId::PublicSchemaObject => "public-schema-object",
            CheckId::PlatformExposed => "platform-exposed",
            CheckId::CrossTenantRead => "cross-tenant-read",
            CheckId::CrossTenantWrite => "cross-tenant-write",
            CheckId::UnauthorizedRead => "unauthorized-read",
            CheckId::UnauthorizedWrite => "unauthorized-write",
            CheckId::PrivilegeEscalation => "privilege-escalation",
            CheckId::SoftDeletedAccess => "soft-deleted-access",
            CheckId::AuditMutable => "audit-mutable",
            CheckId::AuditForgeable => "audit-forgeable",
            CheckId::AuditMissing => "audit-missing",
            CheckId::DefinerSearchPath => "definer-search-path",
            CheckId::FunctionExposed => "function-exposed",
            CheckId::RpcCrossTenant => "rpc-cross-tenant",
            CheckId::BypassRole => "bypass-role",
            CheckId::OverRestriction => "over-restriction",
        }
    }

    /// The severity a finding of this check has unless the check says otherwise.
    pub fn default_severity(self) -> Severity {
        use CheckId::*;
        match self {
            CrossTenantRead | CrossTenantWrite | PrivilegeEscalation | PlatformExposed
            | RpcCrossTenant | PublicTableAccess => Severity::Critical,
            RlsDisabled | UnauthorizedRead | UnauthorizedWrite | AuditMutable | AuditForgeable
            | DefinerSearchPath | FunctionExposed | BypassRole => Severity::High,
            SoftDeletedAccess | AuditMissing | PublicSchemaObject => Severity::Medium,
            OverRestriction => Severity::Low,
        }
    }
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for CheckId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CheckId::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("unknown check `{s}`"))
    }
}

/// How bad a finding is; ordered, so `--fail-on` can compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "low" => Ok(Severity::Low),
            "medium" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            "critical" => Ok(Severity::Critical),
            other => Err(format!(
                "unknown severity `{other}`; valid: low, medium, high, critical"
            )),
        }
    }
}

/// One defect, with what a reviewer needs to see it for themselves.
///
/// A report holds one finding per [signature](Finding::signature): the same defect met
/// in many generated worlds is reported once, with the smallest example found and how
/// often it was met.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub check: CheckId,
    pub severity: Severity,
    /// `schema.table` or `schema.function(argument types)`.
    pub object: String,
    /// Who did it: `anonymous`, `public`, `service`, `owner`, `user:<uuid>`; empty for
    /// catalog findings that concern no actor.
    pub actor: String,
    /// What kind of actor that is, without generated ids: `anonymous`, `public`,
    /// `service`, `owner`, a role name, or for users their relation to the
    /// organization concerned (`outsider`, `removed member`, `member`, `unit member`,
    /// `super admin`; `user` when no organization is concerned). Empty when no actor.
    #[serde(default)]
    pub actor_kind: String,
    /// SELECT, INSERT, UPDATE, DELETE, TRUNCATE, EXECUTE, GRANT, …
    pub operation: String,
    pub message: String,
    /// A psql script that shows the defect on a fresh install (empty for catalog
    /// findings, whose evidence is the catalog itself).
    pub reproduction: String,
    /// `check|object|operation|actor kind`: two findings with one signature are the
    /// same defect. Stable across runs and seeds (no generated ids).
    #[serde(default)]
    pub signature: String,
    /// The id of the root cause this finding belongs to (`Report::root_causes`):
    /// findings that one fix removes share it.
    #[serde(default)]
    pub root_cause: String,
    /// How many times the run met this signature (over every world, call sequence and
    /// actor); 1 for catalog findings.
    #[serde(default)]
    pub occurrences: u64,
    /// The generated example that shows it, when it came from a generated world or
    /// call sequence; `None` for catalog and fixture-world findings.
    #[serde(default)]
    pub example: Option<Example>,
    /// What one fix would remove, as the check that made the finding saw it; grouped
    /// into `Report::root_causes` when the report is assembled.
    #[serde(skip)]
    pub(crate) cause: Option<Cause>,
    /// Other causes that could explain the finding; when one of them is the cause of
    /// a finding that has no alternatives, the report groups this finding there (a
    /// function returning a unit leaks through the units policy the table probes
    /// already blamed).
    #[serde(skip)]
    pub(crate) alternatives: Vec<Cause>,
}

/// The generated world a finding was shown in, as small as shrinking made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Example {
    /// The world; for an RPC contract finding, the world the call sequence started
    /// from (the calls are in the reproduction script).
    pub world: World,
    pub shrink: Shrink,
}

/// How shrinking ended for a finding's example.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shrink {
    pub status: ShrinkStatus,
    /// Candidate examples run while shrinking.
    pub steps: u32,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ShrinkStatus {
    /// No simpler example shows the defect.
    Minimal,
    /// A time or step budget ended shrinking; the example is the smallest found by then
    /// (possibly the one exploration met first).
    BudgetSpent,
}

/// What one fix removes: a policy set, a function, a grant, a missing trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cause {
    /// Findings with the same key are one root cause.
    pub(crate) key: String,
    /// What is wrong, in one line.
    pub(crate) title: String,
    /// What to change.
    pub(crate) fix: String,
}

impl Finding {
    pub(crate) fn new(
        check: CheckId,
        object: impl Into<String>,
        operation: impl Into<String>,
    ) -> Self {
        Self {
            check,
            severity: check.default_severity(),
            object: object.into(),
            actor: String::new(),
            actor_kind: String::new(),
            operation: operation.into(),
            message: String::new(),
            reproduction: String::new(),
            signature: String::new(),
            root_cause: String::new(),
            occurrences: 1,
            example: None,
            cause: None,
            alternatives: Vec::new(),
        }
    }

    /// Sets the actor and, unless a check sets a finer one later, its kind.
    pub(crate) fn actor(mut self, actor: impl fmt::Display) -> Self {
        self.actor = actor.to_string();
        self.actor_kind = default_kind(&self.actor);
        self
    }

    pub(crate) fn actor_kind(mut self, kind: impl Into<String>) -> Self {
        self.actor_kind = kind.into();
        self
    }

    pub(crate) fn message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    pub(crate) fn severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    pub(crate) fn reproduction(mut self, script: impl Into<String>) -> Self {
        self.reproduction = script.into();
        self
    }

    pub(crate) fn cause(
        mut self,
        key: impl Into<String>,
        title: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        self.cause = Some(Cause {
            key: key.into(),
            title: title.into(),
            fix: fix.into(),
        });
        self
    }

    /// `check|object|operation|actor kind` — what makes two findings the same defect.
    /// Generated ids never enter it, so a defect keeps its signature across worlds,
    /// shrinking and runs.
    pub fn signature(&self) -> String {
        format!(
            "{}|{}|{}|{}",
            self.check, self.object, self.operation, self.actor_kind
        )
    }
}

/// The kind of an actor as `Finding::actor` spells it: users lose their id.
fn default_kind(actor: &str) -> String {
    if actor.starts_with("user:") {
        "user".into()
    } else {
        actor.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_ids_round_trip_through_their_stable_names() {
        for id in CheckId::ALL {
            assert_eq!(id.as_str().parse::<CheckId>().unwrap(), id);
            let json = serde_json::to_string(&id).unwrap();
            assert_eq!(json, format!("\"{}\"", id.as_str()));
        }
    }

    #[test]
    fn severities_order_for_fail_on() {
        assert!(Severity::Critical > Severity::High && Severity::Medium > Severity::Low);
        assert_eq!("HIGH".parse::<Severity>().unwrap(), Severity::High);
    }

    #[test]
    fn a_signature_names_the_kind_of_actor_never_its_id() {
        let a = Finding::new(CheckId::CrossTenantRead, "core.units", "SELECT")
            .actor("user:aaaa0000-0000-4000-8000-000000000002");
        let b = Finding::new(CheckId::CrossTenantRead, "core.units", "SELECT")
            .actor("user:aaaa0000-0000-4000-8000-000000000005");
        assert_eq!(a.signature(), b.signature());
        assert_eq!(a.signature(), "cross-tenant-read|core.units|SELECT|user");
        let outsider = b.actor_kind("outsider");
        assert_ne!(a.signature(), outsider.signature());
        let anonymous =
            Finding::new(CheckId::PublicTableAccess, "core.units", "SELECT").actor("anonymous");
        assert_eq!(
            anonymous.signature(),
            "public-table-access|core.units|SELECT|anonymous"
        );
    }
}
