//! What each check means, in words, for the formats that describe their checks.
//!
//! SARIF needs a rule per check ID with a description and help; the Markdown and
//! HTML summaries show one line per check. The text lives here, beside the
//! renderers, so that findings stay short (they say what happened) while reports can
//! say what a check is about and what to do. A match over every `CheckId` makes a new
//! check ID fail to compile until it is described.

use crate::finding::CheckId;

/// The words for one check.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Description {
    /// One line: what the check finds.
    pub(crate) summary: &'static str,
    /// Why it matters and how to fix it.
    pub(crate) help: &'static str,
}

pub(crate) fn describe(check: CheckId) -> Description {
    let (summary, help) = match check {
        CheckId::RlsDisabled => (
            "A table reachable by client roles has row level security disabled.",
            "Without RLS every granted role sees every row of every tenant. Run \
             `ALTER TABLE … ENABLE ROW LEVEL SECURITY` and add policies for each operation.",
        ),
        CheckId::PublicTableAccess => (
            "An anonymous caller or a role holding only PUBLIC's privileges reached a table.",
            "Unauthenticated callers must never read or write tenant data. Revoke the \
             privileges from `anon`/PUBLIC, and make sure no policy applies `TO public`.",
        ),
        CheckId::PublicSchemaObject => (
            "PUBLIC or the anonymous role holds a privilege it must not have on a schema or \
             a schema object (CREATE on a schema, access to an object in `public`).",
            "Anonymous callers and PUBLIC get no privilege on tables, views or schemas. \
             Revoke CREATE on every schema from PUBLIC and revoke what objects inherited.",
        ),
        CheckId::PlatformExposed => (
            "A signed-in user reached a table of a service-only (platform) schema.",
            "Platform tables hold data about every tenant. Revoke the client roles' \
             privileges on the schema and its tables; only the service role may use them.",
        ),
        CheckId::CrossTenantRead => (
            "A user read rows that belong to an organization they are not a member of.",
            "The table's SELECT policy does not restrict rows to the caller's \
             organizations. Compare the policy's USING clause with the access rules.",
        ),
        CheckId::CrossTenantWrite => (
            "A user changed, created or deleted rows of an organization they are not a member of.",
            "A write policy (USING or WITH CHECK) lets the caller reach another tenant. \
             Both clauses must tie the row to the caller's organizations.",
        ),
        CheckId::UnauthorizedRead => (
            "A user read rows of their own organization that the rules do not allow them to read.",
            "Within a tenant, the policy is broader than the rules (a role or ownership \
             condition is missing). Tighten the SELECT policy.",
        ),
        CheckId::UnauthorizedWrite => (
            "A user wrote rows that the rules do not allow them to write.",
            "Within a tenant, a write policy or grant is broader than the rules (a role \
             check or an immutable column is missing). Tighten the policy or the column grants.",
        ),
        CheckId::PrivilegeEscalation => (
            "A user changed who may do what: their own role, membership or super-admin flag.",
            "Privileged columns must not be writable by the users they describe. Remove \
             the UPDATE grant on those columns or guard them with a trigger or a policy.",
        ),
        CheckId::SoftDeletedAccess => (
            "A user reached rows that were soft-deleted (or whose parent was).",
            "Deleted rows must disappear for clients. Add the `deleted_at IS NULL` \
             condition (or the parent's) to the policy.",
        ),
        CheckId::AuditMutable => (
            "An audit log entry could be changed, deleted or truncated.",
            "Audit trails are append-only for every role, the service role and the table \
             owner included: enforce it in the database (a trigger refusing UPDATE, DELETE \
             and TRUNCATE), not by convention.",
        ),
        CheckId::AuditForgeable => (
            "An audit log entry could be written directly, or with another actor or organization.",
            "Audit rows are written only by the schema's own functions and carry the actor \
             and organization of the change. Revoke INSERT from client roles and set both \
             columns from the session, never from arguments.",
        ),
        CheckId::AuditMissing => (
            "A successful change left no audit entry.",
            "Every successful mutating RPC writes an audit row. Write it in the same \
             function (or a trigger on the table) for every path that changes data.",
        ),
        CheckId::DefinerSearchPath => (
            "A SECURITY DEFINER function does not pin its search_path.",
            "A caller can shadow the names the function uses and run code with its \
             owner's rights. Add `SET search_path = ''` and qualify every name.",
        ),
        CheckId::FunctionExposed => (
            "A function is executable by roles that should not call it.",
            "New functions are executable by PUBLIC by default. Revoke EXECUTE from PUBLIC \
             and grant it by full signature to the roles that need it.",
        ),
        CheckId::RpcCrossTenant => (
            "An RPC function returned or changed another tenant's data.",
            "Functions that bypass RLS (SECURITY DEFINER) must check membership \
             themselves. Add the check on every argument that names a tenant's row.",
        ),
        CheckId::BypassRole => (
            "A role that clients can use bypasses row level security.",
            "Superuser, BYPASSRLS or table ownership make every policy moot. Client roles \
             must own nothing and have neither attribute.",
        ),
        CheckId::OverRestriction => (
            "A user was refused something the rules allow (a legitimate user is locked out).",
            "Not a leak, but the schema and the rules disagree: either the policy is too \
             strict or the rules are too generous. Align them.",
        ),
    };
    Description { summary, help }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_has_words_that_end_as_sentences() {
        for check in CheckId::ALL {
            let d = describe(check);
            assert!(d.summary.ends_with('.'), "{check}: {}", d.summary);
            assert!(
                d.help.ends_with('.') && d.help.len() > 40,
                "{check}: {}",
                d.help
            );
            assert!(
                !d.summary.contains("  ") && !d.help.contains("  "),
                "{check}"
            );
        }
    }
}
