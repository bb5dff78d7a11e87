//! The access model: a rules file resolved against a database's catalog.
//!
//! The model says, for every table the checks look at, how a row reaches its
//! organization and which users may read, insert, update and delete it. Listed tables
//! follow the rules file; other tables get defaults from their columns (SPEC §3): an
//! `organization_id` makes a table tenant-scoped, a lone `user_id` makes it private,
//! anything else is service-only. Rules the user wrote that name tables or columns
//! the database lacks are an error, never silently ignored. The built-in reference
//! rules adapt instead, where SPEC §2 lets installations differ (roles without an
//! organization, optional columns, tables or functions an installation does not
//! have), and every adaptation is a note in the report.

pub(crate) mod contracts;
mod expr;
pub(crate) mod generate;
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
    /// The built-in reference rules (fitted to the installation where needed).
    Reference,
    /// The rules file the user gave.
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
    /// Schemas the rules file leaves out of row-level checks (besides extension
    /// homes, always left out).
    pub(crate) ignored_schemas: BTreeSet<String>,
    /// How the built-in rules were fitted to this installation, in words.
    pub(crate) notes: Vec<String>,
}

impl AccessModel {
    pub(crate) fn resolve(source: &RulesSource, catalog: &Catalog) -> Result<Self, RulesError> {
        let (name, text) = source.load()?;
        let file = match source {
            RulesSource::Reference => RulesFile::reference(),
            RulesSource::File(_) => RulesFile::parse(&name, &text)?,
        };
        Resolver {
            file_name: &name,
            file: &file,
            catalog,
            notes: Default::default(),
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
    notes: std::cell::RefCell<Vec<String>>,
}

impl Resolver<'_> {
    fn error(&self, problem: String) -> RulesError {
        RulesError {
            file: self.file_name.to_string(),
            problem,
        }
    }

    /// Whether `entry` (a table or function) comes from the built-in rules.
    fn builtin(&self, entry: &str) -> bool {
        self.file.builtin.contains(entry)
    }

    /// A problem with `entry`'s rules: an error when the user wrote them, a note (and
    /// `Ok`) when they are built in, so the caller adapts.
    fn problem(&self, entry: &str, problem: String) -> Result<(), RulesError> {
        if self.builtin(entry) {
            self.notes.borrow_mut().push(format!(
                "built-in rules fitted to this installation: {problem}"
            ));
            Ok(())
        } else {
            Err(self.error(problem))
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
                None => self.problem(
                    table,
                    format!(
                        "[tables.\"{table}\"]: no table `{table}` in the database (names are `schema.table`)"
                    ),
                )?,
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
            let path = self.tenant_path(&model.table, &self.tenant_column(&model.table));
            let schema = model.table.split('.').next().unwrap_or_default();
            model.tenant = match path {
                Ok(path) => path,
                // Only the service role reaches a service-only table: nobody's access
                // to it depends on its organization, so no path is needed.
                Err(_)
                    if service_only.contains(schema)
                        && !self.file.tables.contains_key(&model.table) =>
                {
                    Vec::new()
                }
                Err(e) => return Err(e),
            };
        }

        let mut may_return = BTreeMap::new();
        let mut may_write = BTreeMap::new();
        for (function, rules) in &self.file.functions {
            if !self.function_exists(function) && self.builtin(function) {
                continue;
            }
            for (key, source, target) in [
                ("may_return", &rules.may_return, &mut may_return),
                ("may_write", &rules.may_write, &mut may_write),
            ] {
                let mut per_table = BTreeMap::new();
                for (table, rule) in source {
                    let Some(relation) = self.catalog.relation(table) else {
                        self.problem(
                            function,
                            format!("[functions.\"{function}\".{key}]: no table `{table}`"),
                        )?;
                        continue;
                    };
                    let path = format!("functions.\"{function}\".{key}.\"{table}\"");
                    per_table.insert(
                        table.clone(),
                        self.parse_rule(function, &path, rule, relation)?,
                    );
                }
                target.insert(function.clone(), per_table);
            }
        }
        let mut anonymous_functions = BTreeSet::new();
        for function in &self.file.anonymous_functions {
            if self.function_exists(function) {
                anonymous_functions.insert(function.clone());
            } else {
                self.problem(
                    function,
                    format!("function `{function}` does not exist in the database"),
                )?;
            }
        }
        for function in self.file.functions.keys() {
            if !self.function_exists(function) {
                self.problem(
                    function,
                    format!("function `{function}` does not exist in the database"),
                )?;
            }
        }

        Ok(AccessModel {
            source: self.file_name.to_string(),
            tables,
            anonymous_functions,
            may_return,
            may_write,
            service_only_schemas: service_only,
            ignored_schemas: self
                .file
                .ignored_schemas
                .iter()
                .filter(|s| !SYSTEM_SCHEMAS.contains(&s.as_str()))
                .cloned()
                .collect(),
            notes: self.notes.take(),
        })
    }

    fn function_exists(&self, function: &str) -> bool {
        let (schema, name) = function.split_once('.').unwrap_or(("", function));
        self.catalog
            .functions
            .iter()
            .any(|f| f.schema == schema && f.name == name)
    }

    fn tenant_column(&self, table: &str) -> Option<String> {
        match self.file.tables.get(table) {
            // A built-in tenant column the table lacks: every row is global (`listed`
            // said so in a note).
            Some(rules) if self.builtin(table) => rules.tenant.clone().filter(|c| {
                self.catalog
                    .relation(table)
                    .is_some_and(|r| r.has_column(c))
            }),
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

    /// Parses the rule at `key` of `entry` (a table or function) for `relation`. A
    /// built-in rule naming a column the table lacks keeps it (a missing column reads
    /// as NULL, as for a row that leaves it empty); a built-in `same_org` without the
    /// foreign key it follows holds (nothing to compare).
    fn parse_rule(
        &self,
        entry: &str,
        key: &str,
        rule: &str,
        relation: &Relation,
    ) -> Result<Expr, RulesError> {
        let expr = expr::parse(rule).map_err(|e| self.error(format!("[{key}]: {e}")))?;
        for column in expr.columns() {
            if !relation.has_column(column) {
                self.problem(
                    entry,
                    format!(
                        "[{key}]: `{rule}` names column `{column}`, which `{}` does not have{}",
                        relation.qualified(),
                        if self.builtin(entry) {
                            " (read as NULL)"
                        } else {
                            ""
                        }
                    ),
                )?;
            }
        }
        let unreferenced: BTreeSet<String> = expr
            .atoms()
            .into_iter()
            .filter_map(|a| match a {
                Atom::SameOrg(c)
                    if relation.has_column(c) && relation.reference_of(c).is_none() =>
                {
                    Some(c.clone())
                }
                _ => None,
            })
            .collect();
        for column in &unreferenced {
            self.problem(
                entry,
                format!(
                    "[{key}]: same_org({column}) needs a foreign key on `{column}`, which `{}` does not have{}",
                    relation.qualified(),
                    if self.builtin(entry) { " (it holds)" } else { "" }
                ),
            )?;
        }
        // What a built-in atom on a missing column means: the value every row has
        // there, NULL. Folded to a constant so the rule says so plainly (and a rules
        // file written from this model passes the strict checks).
        let missing = |c: &str| !relation.has_column(c);
        let adapted = expr.map_atoms(&|a| {
            let null = |holds: bool| Expr::Atom(if holds { Atom::Always } else { Atom::Never });
            match a {
                Atom::SameOrg(c) if missing(c) || unreferenced.contains(c) => null(true),
                Atom::Is(c, v) if missing(c) => null(v == "null"),
                Atom::SelfColumn(c) | Atom::SharesOrg(c) | Atom::Future(c) | Atom::Role(c, _)
                    if missing(c) =>
                {
                    null(false)
                }
                Atom::Invitee if missing("email") => null(false),
                other => Expr::Atom(other.clone()),
            }
        });
        Ok(if adapted == expr {
            expr
        } else {
            adapted.simplified()
        })
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
                &table,
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
        if let Some(column) = rules.tenant.as_ref().filter(|c| !relation.has_column(c)) {
            // Checked again, with the user's error, where the tenant path is followed.
            if self.builtin(&table) {
                self.problem(
                    &table,
                    format!(
                        "`{table}` has no tenant column `{column}`: every row is global (no \
                         organization), as in installations with global roles only"
                    ),
                )?;
            }
        }
        let kept = |list: &[String], what: &str| -> Result<Vec<String>, RulesError> {
            let mut out = Vec::new();
            for column in list {
                if relation.has_column(column) {
                    out.push(column.clone());
                } else {
                    self.problem(
                        &table,
                        format!("[tables.\"{table}\"].{what}: column `{column}` does not exist"),
                    )?;
                }
            }
            Ok(out)
        };
        let immutable = kept(&rules.immutable, "immutable")?;
        let privileged = kept(&rules.privileged, "privileged")?;
        let mut live_via = Vec::new();
        for column in &rules.live_via {
            if relation.reference_of(column).is_some() {
                live_via.push(column.clone());
            } else {
                self.problem(
                    &table,
                    format!(
                        "[tables.\"{table}\"].live_via: `{column}` is not a foreign-key column of `{table}`"
                    ),
                )?;
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
        let (mut select, mut insert, mut delete) = (
            rule("select", &rules.select)?,
            rule("insert", &rules.insert)?,
            rule("delete", &rules.delete)?,
        );
        let (mut update, mut update_check) = (update, update_check);
        if self.builtin(&table)
            && rules
                .tenant
                .as_ref()
                .is_some_and(|c| !relation.has_column(c))
        {
            // No tenant column: every row is global, nobody is a member of its
            // (absent) organization.
            for rule in [
                &mut select,
                &mut insert,
                &mut update,
                &mut update_check,
                &mut delete,
            ] {
                *rule = rule
                    .map_atoms(&|a| match a {
                        Atom::Global => Expr::Atom(Atom::Always),
                        Atom::Member | Atom::SuperAdmin | Atom::UnitMember => {
                            Expr::Atom(Atom::Never)
                        }
                        other => Expr::Atom(other.clone()),
                    })
                    .simplified();
            }
        }
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
            immutable,
            privileged,
            audit: rules.audit,
            maintain: rules.maintain,
            live_via,
            references: references(relation),
            origin: if self.builtin(&table) {
                RuleOrigin::Reference
            } else {
                RuleOrigin::Listed
            },
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
