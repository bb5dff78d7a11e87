//! The access model: a rules file resolved against a database's catalog.
//!
//! The model says, for every table the checks look at, how a row reaches its
//! organization and which users may read, insert, update and delete it. Listed tables
//! follow the rules file; other tables get defaults from their columns (SPEC §3): an
//! `organization_id` makes a table tenant-scoped, a lone `user_id` makes it private,
//! anything else is service-only. Rules naming tables or columns the database lacks
//! are an error, never silently ignored.

pub(crate) mod contracts;
mod expr;
pub(crate) mod oracle;
mod rules;

use std::collections::{BTreeMap, BTreeSet};

pub(crate) use expr::{Atom, Expr};
pub use rules::RulesError;
use rules::{RulesFile, TableRules, REFERENCE_RULES, REFERENCE_RULES_NAME};

use crate::catalog::{Catalog, Relation};

/// SMTA's tenancy tables and the columns the vocabulary's atoms read (SPEC §2).
pub(crate) mod tenancy {
    pub(crate) const ORGANIZATIONS: &str = "core.organizations";
    pub(crate) const MEMBERSHIPS: &str = "core.memberships";
    pub(crate) const UNITS: &str = "core.units";
    pub(crate) const UNIT_MEMBERSHIPS: &str = "core.unit_memberships";
    pub(crate) const USERS: &str = "core.users_meta";
    pub(crate) const ROLES: &str = "core.roles";
}

/// Schemas never verified row by row: PostgreSQL's own and extension homes.
const SYSTEM_SCHEMAS: &[&str] = &["extensions"];

/// Where the rules come from.
#[derive(Debug, Clone)]
pub enum RulesSource {
    /// `fixtures/access/reference.toml`, compiled in.
    Reference,
    /// A file given by the user.
    File(std::path::PathBuf),
}

impl RulesSource {
    pub(crate) fn load(&self) -> Result<(String, String), RulesError> {
        match self {
            RulesSource::Reference => Ok((
                REFERENCE_RULES_NAME.to_string(),
                REFERENCE_RULES.to_string(),
            )),
            RulesSource::File(path) => {
                let name = path.display().to_string();
                std::fs::read_to_string(path)
                    .map(|text| (name.clone(), text))
                    .map_err(|e| RulesError {
                        file: name,
                        problem: e.to_string(),
                    })
            }
        }
    }
}

/// What the service role may do to a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ServiceAccess {
    All,
    Read,
    None,
    /// No expectation: the table is neither SMTA's nor the adopter's.
    Unchecked,
}

/// Why a table has the rules it has, for reports.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) enum RuleOrigin {
    Listed,
    Default(&'static str),
}

/// One step of a tenant path: `table.column`, and where its foreign key leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hop {
    pub(crate) table: String,
    pub(crate) column: String,
    /// The referenced (table, column), or `None` when the value is an organization id.
    pub(crate) next: Option<(String, String)>,
}

/// Resolved rules of one table.
#[derive(Debug, Clone)]
pub(crate) struct TableModel {
    pub(crate) table: String,
    /// Primary key columns; rows are told apart by them.
    pub(crate) key: Vec<String>,
    /// Path from a row to its organization; empty when the table has no tenant.
    pub(crate) tenant: Vec<Hop>,
    pub(crate) select: Expr,
    pub(crate) insert: Expr,
    pub(crate) update: Expr,
    pub(crate) update_check: Expr,
    pub(crate) delete: Expr,
    pub(crate) service: ServiceAccess,
    pub(crate) immutable: Vec<String>,
    pub(crate) privileged: Vec<String>,
    pub(crate) audit: bool,
    /// Application roles may hold MAINTAIN (PostgreSQL 17+) on it.
    pub(crate) maintain: bool,
    /// Foreign-key columns whose referenced row must be live for this row to be.
    pub(crate) live_via: Vec<String>,
    /// Single-column foreign keys: column → (referenced table, referenced column).
    pub(crate) references: BTreeMap<String, (String, String)>,
    pub(crate) origin: RuleOrigin,
}

impl TableModel {
    /// Whether the rules can allow, and can refuse, `operation` (as probes name it)
    /// to some user: `never` allows nobody, `always` refuses nobody.
    pub(crate) fn possible(&self, operation: &str) -> (bool, bool) {
        let rule = match operation {
            "SELECT" => &self.select,
            "INSERT" => &self.insert,
            "DELETE" => &self.delete,
            _ => &self.update,
        };
        match rule {
            Expr::Atom(Atom::Never) => (false, true),
            Expr::Atom(Atom::Always) => (true, false),
            _ => (true, true),
        }
    }
}

/// The rules of every table and function the checks look at.
#[derive(Debug, Clone)]
pub(crate) struct AccessModel {
    pub(crate) source: String,
    pub(crate) tables: BTreeMap<String, TableModel>,
    pub(crate) anonymous_functions: BTreeSet<String>,
    /// Function → table → rule for rows it may return beyond SELECT rights.
    pub(crate) may_return: BTreeMap<String, BTreeMap<String, Expr>>,
    /// Function → table → rule for rows it may change outside the caller's organizations.
    pub(crate) may_write: BTreeMap<String, BTreeMap<String, Expr>>,
    pub(crate) service_only_schemas: BTreeSet<String>,
}

impl AccessModel {
    pub(crate) fn resolve(source: &RulesSource, catalog: &Catalog) -> Result<Self, RulesError> {
        let (name, text) = source.load()?;
        let file = RulesFile::parse(&name, &text)?;
        Resolver {
            file_name: &name,
            file: &file,
            catalog,
        }
        .resolve()
    }

    pub(crate) fn table(&self, name: &str) -> Option<&TableModel> {
        self.tables.get(name)
    }
}

struct Resolver<'a> {
    file_name: &'a str,
    file: &'a RulesFile,
    catalog: &'a Catalog,
}

impl Resolver<'_> {
    fn error(&self, problem: String) -> RulesError {
        RulesError {
            file: self.file_name.to_string(),
            problem,
        }
    }

    fn resolve(&self) -> Result<AccessModel, RulesError> {
        let service_only: BTreeSet<String> =
            self.file.service_only_schemas.iter().cloned().collect();
        let ignored: BTreeSet<&str> = self
            .file
            .ignored_schemas
            .iter()
            .map(String::as_str)
            .chain(SYSTEM_SCHEMAS.iter().copied())
            .collect();

        for table in self.file.tables.keys() {
            match self.catalog.relation(table) {
                Some(r) if r.is_table() => {}
                Some(_) => return Err(self.error(format!("[tables.\"{table}\"]: `{table}` is not a table"))),
                None => {
                    return Err(self.error(format!(
                        "[tables.\"{table}\"]: no table `{table}` in the database (names are `schema.table`)"
                    )))
                }
            }
        }

        let mut tables = BTreeMap::new();
        for relation in self.catalog.tables() {
            if ignored.contains(relation.schema.as_str()) {
                continue;
            }
            let Some(key) = relation.primary_key() else {
                // Rows without a key cannot be told apart; grant checks still cover it.
                continue;
            };
            let qualified = relation.qualified();
            // A partition's rows are its parent's rows: modelled twice, every row would
            // be seeded and judged as two. The parent is probed; the catalog checks
            // require row security on each partition, which is what stops a client
            // naming the partition directly.
            if relation.parent.is_some() && !self.file.tables.contains_key(&qualified) {
                continue;
            }
            let model = match self.file.tables.get(&qualified) {
                Some(rules) => self.listed(relation, rules, key)?,
                None => self.defaulted(relation, key, service_only.contains(&relation.schema)),
            };
            tables.insert(qualified, model);
        }
        for model in tables.values_mut() {
            model.tenant = self.tenant_path(&model.table, &self.tenant_column(&model.table))?;
        }

        let mut may_return = BTreeMap::new();
        let mut may_write = BTreeMap::new();
        for (function, rules) in &self.file.functions {
            for (key, source, target) in [
                ("may_return", &rules.may_return, &mut may_return),
                ("may_write", &rules.may_write, &mut may_write),
            ] {
                let mut per_table = BTreeMap::new();
                for (table, rule) in source {
                    let relation = self.catalog.relation(table).ok_or_else(|| {
                        self.error(format!(
                            "[functions.\"{function}\".{key}]: no table `{table}`"
                        ))
                    })?;
                    let path = format!("functions.\"{function}\".{key}.\"{table}\"");
                    per_table.insert(table.clone(), self.parse_rule(&path, rule, relation)?);
                }
                target.insert(function.clone(), per_table);
            }
        }
        for function in self
            .file
            .anonymous_functions
            .iter()
            .chain(self.file.functions.keys())
        {
            let (schema, name) = function.split_once('.').unwrap_or(("", function));
            if !self
                .catalog
                .functions
                .iter()
                .any(|f| f.schema == schema && f.name == name)
            {
                return Err(self.error(format!(
                    "function `{function}` does not exist in the database"
                )));
            }
        }

        Ok(AccessModel {
            source: self.file_name.to_string(),
            tables,
            anonymous_functions: self.file.anonymous_functions.iter().cloned().collect(),
            may_return,
            may_write,
            service_only_schemas: service_only,
        })
    }

    fn tenant_column(&self, table: &str) -> Option<String> {
        match self.file.tables.get(table) {
            Some(rules) => rules.tenant.clone(),
            None => {
                let relation = self.catalog.relation(table)?;
                default_tenant_column(relation)
            }
        }
    }

    /// Follows `column`'s foreign keys until it reaches an organization id.
    fn tenant_path(&self, table: &str, column: &Option<String>) -> Result<Vec<Hop>, RulesError> {
        let mut hops = Vec::new();
        let mut current = (table.to_string(), column.clone());
        while let (table, Some(column)) = current {
            if hops.len() > 8 || hops.iter().any(|h: &Hop| h.table == table) {
                return Err(
                    self.error(format!("the tenant path of `{table}` loops back on itself"))
                );
            }
            let relation = self
                .catalog
                .relation(&table)
                .expect("tables come from the catalog");
            if !relation.has_column(&column) {
                return Err(self.error(format!(
                    "[tables.\"{table}\"]: tenant column `{column}` does not exist"
                )));
            }
            let is_org_key = table == tenancy::ORGANIZATIONS;
            let next = match relation.reference_of(&column) {
                Some((target, target_col)) if !is_org_key && target != tenancy::ORGANIZATIONS => {
                    Some((target.to_string(), target_col.to_string()))
                }
                _ => None,
            };
            hops.push(Hop {
                table: table.clone(),
                column: column.clone(),
                next: next.clone(),
            });
            current = match next {
                Some((target, _)) => {
                    let target_column = self.tenant_column(&target);
                    if target_column.is_none() {
                        return Err(self.error(format!(
                            "the tenant path of `{}` reaches `{target}`, which has no tenant column",
                            hops[0].table
                        )));
                    }
                    (target, target_column)
                }
                None => (String::new(), None),
            };
        }
        Ok(hops)
    }

    fn parse_rule(&self, key: &str, rule: &str, relation: &Relation) -> Result<Expr, RulesError> {
        let expr = expr::parse(rule).map_err(|e| self.error(format!("[{key}]: {e}")))?;
        for column in expr.columns() {
            if !relation.has_column(column) {
                return Err(self.error(format!(
                    "[{key}]: `{rule}` names column `{column}`, which `{}` does not have",
                    relation.qualified()
                )));
            }
        }
        let unreferenced = expr.atoms().into_iter().find_map(|a| match a {
            Atom::SameOrg(c) if relation.reference_of(c).is_none() => Some(c.clone()),
            _ => None,
        });
        if let Some(column) = unreferenced {
            return Err(self.error(format!(
                "[{key}]: same_org({column}) needs a foreign key on `{column}`, which `{}` does not have",
                relation.qualified()
            )));
        }
        Ok(expr)
    }

    fn listed(
        &self,
        relation: &Relation,
        rules: &TableRules,
        key: &[String],
    ) -> Result<TableModel, RulesError> {
        let table = relation.qualified();
        let rule = |op: &str, text: &Option<String>| -> Result<Expr, RulesError> {
            self.parse_rule(
                &format!("tables.\"{table}\".{op}"),
                text.as_deref().unwrap_or("never"),
                relation,
            )
        };
        let update = rule("update", &rules.update)?;
        let update_check = match &rules.update_check {
            Some(_) => rule("update_check", &rules.update_check)?,
            None => update.clone(),
        };
        let needs_tenant = [&rules.select, &rules.insert, &rules.update, &rules.delete]
            .into_iter()
            .flatten()
            .any(|r| {
                expr::parse(r).is_ok_and(|e| {
                    e.atoms().into_iter().any(|a| {
                        matches!(
                            a,
                            Atom::Member | Atom::SuperAdmin | Atom::UnitMember | Atom::Global
                        )
                    })
                })
            });
        if needs_tenant && rules.tenant.is_none() {
            return Err(self.error(format!(
                "[tables.\"{table}\"]: the rules mention organizations but `tenant` is not set"
            )));
        }
        for column in rules.immutable.iter().chain(&rules.privileged) {
            if !relation.has_column(column) {
                return Err(self.error(format!(
                    "[tables.\"{table}\"]: column `{column}` does not exist"
                )));
            }
        }
        for column in &rules.live_via {
            if relation.reference_of(column).is_none() {
                return Err(self.error(format!(
                    "[tables.\"{table}\"].live_via: `{column}` is not a foreign-key column of `{table}`"
                )));
            }
        }
        let service = match rules.service.as_deref() {
            None => default_service(relation),
            Some("all") => ServiceAccess::All,
            Some("read") => ServiceAccess::Read,
            Some("none") => ServiceAccess::None,
            Some("unchecked") => ServiceAccess::Unchecked,
            Some(other) => {
                return Err(self.error(format!(
                    "[tables.\"{table}\"].service: `{other}`; expected all, read, none or unchecked"
                )))
            }
        };
        let (select, insert, delete) = (
            rule("select", &rules.select)?,
            rule("insert", &rules.insert)?,
            rule("delete", &rules.delete)?,
        );
        Ok(TableModel {
            table: table.clone(),
            key: key.to_vec(),
            tenant: Vec::new(),
            select,
            insert,
            update,
            update_check,
            delete,
            service,
            immutable: rules.immutable.clone(),
            privileged: rules.privileged.clone(),
            audit: rules.audit,
            maintain: rules.maintain,
            live_via: rules.live_via.clone(),
            references: references(relation),
            origin: RuleOrigin::Listed,
        })
    }

    fn defaulted(&self, relation: &Relation, key: &[String], service_only: bool) -> TableModel {
        let never = Expr::Atom(Atom::Never);
        let (rule, origin) = if service_only {
            (never.clone(), RuleOrigin::Default("service-only schema"))
        } else if default_tenant_column(relation).is_some() {
            (
                Expr::Atom(Atom::Member),
                RuleOrigin::Default("tenant-scoped: has organization_id"),
            )
        } else if relation.has_column("user_id") {
            (
                Expr::Atom(Atom::SelfColumn("user_id".into())),
                RuleOrigin::Default("private: has user_id"),
            )
        } else {
            (
                never.clone(),
                RuleOrigin::Default("no tenant or user column: service only"),
            )
        };
        let immutable = ["organization_id", "user_id"]
            .into_iter()
            .filter(|c| relation.has_column(c))
            .map(str::to_string)
            .collect();
        TableModel {
            table: relation.qualified(),
            key: key.to_vec(),
            tenant: Vec::new(),
            select: rule.clone(),
            insert: rule.clone(),
            update: rule.clone(),
            update_check: rule.clone(),
            delete: rule,
            service: default_service(relation),
            immutable,
            privileged: Vec::new(),
            audit: false,
            maintain: false,
            live_via: Vec::new(),
            references: references(relation),
            origin,
        }
    }
}

fn references(relation: &Relation) -> BTreeMap<String, (String, String)> {
    relation
        .foreign_keys()
        .filter(|(cols, _, _)| cols.len() == 1)
        .map(|(cols, table, refcols)| (cols[0].clone(), (table.to_string(), refcols[0].clone())))
        .collect()
}

fn default_tenant_column(relation: &Relation) -> Option<String> {
    relation
        .has_column("organization_id")
        .then(|| "organization_id".to_string())
}

fn default_service(relation: &Relation) -> ServiceAccess {
    match relation.schema.as_str() {
        "core" | "platform" | "app" => ServiceAccess::All,
        _ => ServiceAccess::Unchecked,
    }
}
