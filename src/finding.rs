//! Findings: what a check reports, in the words a security reviewer reads.
//!
//! Every check returns `Finding` values and never prints; the report module renders
//! them. Check IDs are the stable names of SPEC §5 — they appear in report.json, JUnit,
//! SARIF and in users' `--fail-on` policies, so they never change meaning.

use std::fmt;

use serde::{Deserialize, Serialize};

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub check: CheckId,
    pub severity: Severity,
    /// `schema.table` or `schema.function`.
    pub object: String,
    /// Who did it: `anonymous`, `public`, `service`, `owner`, `user:<uuid>`; empty for
    /// catalog findings that concern no actor.
    pub actor: String,
    /// SELECT, INSERT, UPDATE, DELETE, TRUNCATE, EXECUTE, GRANT, …
    pub operation: String,
    pub message: String,
    /// A psql script that shows the defect on a fresh install (empty for catalog
    /// findings, whose evidence is the catalog itself).
    pub reproduction: String,
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
            operation: operation.into(),
            message: String::new(),
            reproduction: String::new(),
        }
    }

    pub(crate) fn actor(mut self, actor: impl fmt::Display) -> Self {
        self.actor = actor.to_string();
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
}
