//! RPC contracts: what each `public` function of SMTA is for, as data.
//!
//! The generic RPC sweep can only judge what any function must respect (no leaks, no
//! unaudited foreign writes); it cannot tell that `delete_unit` needs the super admin
//! or that `add_member_to_unit` must refuse a user outside the organization. The
//! contracts in `fixtures/access/rpc.toml` say that: who may call each function, its
//! preconditions, the rows it must change and how, the audit row it must leave and the
//! rows it may return. This module parses that file (expressions included) and matches
//! the contracts with the functions a database actually has, by name and argument
//! types; the contract check (`checks/contracts`) evaluates them.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::catalog::{Catalog, Function};
use crate::finding::CheckId;

/// The reference contracts, compiled in.
pub(crate) const REFERENCE_CONTRACTS: &str = include_str!("../../fixtures/access/rpc.toml");

/// An expression of the contract language: an atom or a function call.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    /// A name, literal or marker (`p_org_id`, `$caller`, `'text'`, `true`, `*`, …).
    Atom(String),
    Call(String, Vec<Expr>),
}

impl Expr {
    /// Parses `text`; the error names what was wrong.
    pub(crate) fn parse(text: &str) -> Result<Expr, String> {
        let mut parser = Parser {
            chars: text.chars().collect(),
            at: 0,
        };
        let expr = parser.expr()?;
        parser.blank();
        if parser.at != parser.chars.len() {
            return Err(format!("unexpected text after position {}", parser.at));
        }
        Ok(expr)
    }
}

impl std::fmt::Display for Expr {
    /// As written in the contracts file.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expr::Atom(a) => f.write_str(a),
            Expr::Call(name, args) => {
                write!(f, "{name}(")?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str(")")
            }
        }
    }
}

struct Parser {
    chars: Vec<char>,
    at: usize,
}

impl Parser {
    fn blank(&mut self) {
        while self.chars.get(self.at).is_some_and(|c| c.is_whitespace()) {
            self.at += 1;
        }
    }

    fn expr(&mut self) -> Result<Expr, String> {
        self.blank();
        let start = self.at;
        match self.chars.get(self.at) {
            None => return Err("an expression is missing".into()),
            Some('\'') => {
                self.at += 1;
                while self.chars.get(self.at).is_some_and(|c| *c != '\'') {
                    self.at += 1;
                }
                if self.chars.get(self.at).is_none() {
                    return Err("an unterminated 'string'".into());
                }
                self.at += 1;
                return Ok(Expr::Atom(self.chars[start..self.at].iter().collect()));
            }
            Some('{') => {
                if self.chars.get(self.at + 1) == Some(&'}') {
                    self.at += 2;
                    return Ok(Expr::Atom("{}".into()));
                }
                return Err("only the empty JSON object {} is supported".into());
            }
            _ => {}
        }
        while self
            .chars
            .get(self.at)
            .is_some_and(|c| c.is_alphanumeric() || "_$.*~-".contains(*c))
        {
            self.at += 1;
        }
        if self.at == start {
            return Err(format!("unexpected character at position {start}"));
        }
        let name: String = self.chars[start..self.at].iter().collect();
        self.blank();
        if self.chars.get(self.at) != Some(&'(') {
            return Ok(Expr::Atom(name));
        }
        self.at += 1;
        let mut args = Vec::new();
        loop {
            self.blank();
            if self.chars.get(self.at) == Some(&')') {
                self.at += 1;
                break;
            }
            args.push(self.expr()?);
            self.blank();
            match self.chars.get(self.at) {
                Some(',') => self.at += 1,
                Some(')') => {
                    self.at += 1;
                    break;
                }
                _ => return Err(format!("expected , or ) at position {}", self.at)),
            }
        }
        Ok(Expr::Call(name, args))
    }
}

/// How a precondition's failure is judged when the call goes through anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Breach {
    /// Input validation: a function that accepts it is no security defect.
    Lenient,
    Check(CheckId),
}

/// One change an allowed call makes.
#[derive(Debug, Clone)]
pub(crate) enum Effect {
    /// insert / upsert / set / delete of the row at `key`.
    Row {
        op: RowOp,
        table: String,
        key: Vec<Expr>,
        set: BTreeMap<String, Expr>,
        when: Option<Expr>,
    },
    /// `set` on every row of `table` for which `filter` holds.
    UpdateWhere {
        table: String,
        filter: Expr,
        set: BTreeMap<String, Expr>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowOp {
    Insert,
    Upsert,
    Set,
    Delete,
}

/// The audit row an allowed mutating call writes.
#[derive(Debug, Clone)]
pub(crate) struct Audit {
    /// The table the row names, qualified or not.
    pub(crate) table: String,
    /// The reference's wording of the action: shown in findings, judged only when
    /// `pin_action` (installations word their actions their own way).
    pub(crate) action: String,
    pub(crate) pin_action: bool,
    pub(crate) organization: Expr,
    /// The row the audit row names (`target_id`), when the contract says.
    pub(crate) target: Option<Expr>,
}

/// What a read returns: `column` of each row names a row of `table`.
#[derive(Debug, Clone)]
pub(crate) struct Returns {
    pub(crate) table: String,
    pub(crate) column: String,
    pub(crate) allow: Option<Expr>,
}

/// Where generated values for an argument come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Domain {
    Org,
    Unit,
    User,
    Role,
    File,
    Invitation,
    Token,
    Secret,
    Owner,
    Email,
    Text,
    Json,
    Int,
    Scope,
    Status,
}

#[derive(Debug, Clone)]
pub(crate) struct Argument {
    pub(crate) name: String,
    pub(crate) sql_type: String,
    pub(crate) domain: Domain,
}

/// One RPC's contract.
#[derive(Debug, Clone)]
pub(crate) struct Contract {
    pub(crate) name: String,
    pub(crate) args: Vec<Argument>,
    pub(crate) caller: Expr,
    pub(crate) denied: Option<CheckId>,
    pub(crate) lets: Vec<(String, Expr)>,
    pub(crate) requires: Vec<(Expr, Breach)>,
    pub(crate) effects: Vec<Effect>,
    pub(crate) audit: Option<Audit>,
    pub(crate) returns: Option<Returns>,
}

impl Contract {
    /// `public.name(type, …)`: how reports name the function.
    pub(crate) fn signature(&self) -> String {
        let types: Vec<&str> = self.args.iter().map(|a| a.sql_type.as_str()).collect();
        format!("public.{}({})", self.name, types.join(", "))
    }

    /// Whether some call can be one the contract refuses: any caller restriction or
    /// precondition (an RPC open to every caller, anonymous ones included, cannot).
    pub(crate) fn can_refuse(&self) -> bool {
        !(matches!(&self.caller, Expr::Atom(a) if a == "true") && self.requires.is_empty())
    }

    /// Whether an allowed call changes anything (a read does not).
    pub(crate) fn mutates(&self) -> bool {
        !self.effects.is_empty()
    }
}

/// The whole file.
#[derive(Debug, Clone)]
pub(crate) struct Contracts {
    pub(crate) rpcs: Vec<Contract>,
    /// table → the columns its rows are compared by.
    pub(crate) keys: BTreeMap<String, Vec<String>>,
    pub(crate) ignore_columns: Vec<String>,
    pub(crate) unmodelled: Vec<String>,
    pub(crate) audit_table: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    version: u32,
    #[serde(default)]
    keys: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    ignore_columns: Vec<String>,
    #[serde(default)]
    unmodelled: Vec<String>,
    audit_table: String,
    rpc: Vec<RawRpc>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RawRpc {
    name: String,
    args: Vec<(String, String, Domain)>,
    like: Option<String>,
    caller: Option<String>,
    denied: Option<String>,
    #[serde(default, rename = "let")]
    lets: BTreeMap<String, String>,
    #[serde(default)]
    requires: Vec<(String, String)>,
    #[serde(default)]
    effects: Vec<RawEffect>,
    audit: Option<RawAudit>,
    returns: Option<RawReturns>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RawEffect {
    op: String,
    table: String,
    #[serde(default)]
    key: Vec<String>,
    #[serde(default)]
    set: BTreeMap<String, String>,
    when: Option<String>,
    filter: Option<String>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RawAudit {
    table: String,
    action: String,
    /// Judge the action's wording too (default: shown only).
    #[serde(default)]
    pin_action: bool,
    organization: String,
    /// The row the audit row must name.
    target: Option<String>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RawReturns {
    table: String,
    column: String,
    allow: Option<String>,
}

fn parse(what: &str, text: &str) -> Result<Expr, String> {
    Expr::parse(text).map_err(|e| format!("{what}: `{text}`: {e}"))
}

fn parse_set(what: &str, set: &BTreeMap<String, String>) -> Result<BTreeMap<String, Expr>, String> {
    set.iter()
        .map(|(c, e)| Ok((c.clone(), parse(&format!("{what}.{c}"), e)?)))
        .collect()
}

impl Contracts {
    /// The reference contracts (SPEC §2).
    pub(crate) fn reference() -> Contracts {
        Contracts::parse(REFERENCE_CONTRACTS).expect("fixtures/access/rpc.toml is valid")
    }

    /// Parses a contracts file.
    pub(crate) fn parse(text: &str) -> Result<Contracts, String> {
        let raw: RawFile = toml::from_str(text).map_err(|e| e.to_string())?;
        if raw.version != 1 {
            return Err(format!("unknown contracts version {}", raw.version));
        }
        let by_name: BTreeMap<String, RawRpc> = raw
            .rpc
            .iter()
            .map(|r| (r.name.clone(), r.clone()))
            .collect();
        let mut rpcs = Vec::new();
        for rpc in &raw.rpc {
            // `like` copies everything but the name and the arguments.
            let body = match &rpc.like {
                Some(other) => by_name
                    .get(other)
                    .cloned()
                    .ok_or_else(|| format!("{}: like = `{other}`: no such contract", rpc.name))?,
                None => rpc.clone(),
            };
            let what = rpc.name.as_str();
            let caller = parse(
                &format!("{what}.caller"),
                body.caller
                    .as_deref()
                    .ok_or_else(|| format!("{what}: no caller"))?,
            )?;
            let denied = body
                .denied
                .as_deref()
                .map(|d| d.parse::<CheckId>())
                .transpose()
                .map_err(|e| format!("{what}.denied: {e}"))?;
            let lets = body
                .lets
                .iter()
                .map(|(n, e)| Ok((n.clone(), parse(&format!("{what}.let.{n}"), e)?)))
                .collect::<Result<Vec<_>, String>>()?;
            let requires = body
                .requires
                .iter()
                .map(|(c, check)| {
                    let breach = if check == "lenient" {
                        Breach::Lenient
                    } else {
                        Breach::Check(check.parse().map_err(|e| format!("{what}.requires: {e}"))?)
                    };
                    Ok((parse(&format!("{what}.requires"), c)?, breach))
                })
                .collect::<Result<Vec<_>, String>>()?;
            let effects = body
                .effects
                .iter()
                .map(|e| {
                    let w = format!("{what}.effects.{}", e.table);
                    let set = parse_set(&w, &e.set)?;
                    if e.op == "update_where" {
                        let filter = e
                            .filter
                            .as_deref()
                            .ok_or_else(|| format!("{w}: update_where needs a filter"))?;
                        return Ok(Effect::UpdateWhere {
                            table: e.table.clone(),
                            filter: parse(&w, filter)?,
                            set,
                        });
                    }
                    let op = match e.op.as_str() {
                        "insert" => RowOp::Insert,
                        "upsert" => RowOp::Upsert,
                        "set" => RowOp::Set,
                        "delete" => RowOp::Delete,
                        other => return Err(format!("{w}: unknown op `{other}`")),
                    };
                    Ok(Effect::Row {
                        op,
                        table: e.table.clone(),
                        key: e
                            .key
                            .iter()
                            .map(|k| parse(&w, k))
                            .collect::<Result<_, _>>()?,
                        set,
                        when: e.when.as_deref().map(|x| parse(&w, x)).transpose()?,
                    })
                })
                .collect::<Result<Vec<_>, String>>()?;
            let audit = body
                .audit
                .as_ref()
                .map(|a| {
                    Ok::<_, String>(Audit {
                        table: a.table.clone(),
                        action: a.action.clone(),
                        pin_action: a.pin_action,
                        organization: parse(&format!("{what}.audit"), &a.organization)?,
                        target: a
                            .target
                            .as_deref()
                            .map(|t| parse(&format!("{what}.audit.target"), t))
                            .transpose()?,
                    })
                })
                .transpose()?;
            let returns = body
                .returns
                .as_ref()
                .map(|r| {
                    Ok::<_, String>(Returns {
                        table: r.table.clone(),
                        column: r.column.clone(),
                        allow: r
                            .allow
                            .as_deref()
                            .map(|a| parse(&format!("{what}.returns"), a))
                            .transpose()?,
                    })
                })
                .transpose()?;
            rpcs.push(Contract {
                name: rpc.name.clone(),
                args: rpc
                    .args
                    .iter()
                    .map(|(name, sql_type, domain)| Argument {
                        name: name.clone(),
                        sql_type: sql_type.clone(),
                        domain: *domain,
                    })
                    .collect(),
                caller,
                denied,
                lets,
                requires,
                effects,
                audit,
                returns,
            });
        }
        Ok(Contracts {
            rpcs,
            keys: raw.keys,
            ignore_columns: raw.ignore_columns,
            unmodelled: raw.unmodelled,
            audit_table: raw.audit_table,
        })
    }

    /// The contracts whose function the catalog has with the same input types, each
    /// with that function; and a note for every other contract (missing, or another
    /// signature), which the check then skips.
    pub(crate) fn bind<'a>(
        &'a self,
        catalog: &'a Catalog,
    ) -> (Vec<(&'a Contract, &'a Function)>, Vec<String>) {
        let mut bound = Vec::new();
        let mut notes = Vec::new();
        for contract in &self.rpcs {
            let types: Vec<&str> = contract.args.iter().map(|a| a.sql_type.as_str()).collect();
            let candidates: Vec<&Function> = catalog
                .functions
                .iter()
                .filter(|f| f.schema == "public" && f.name == contract.name && f.kind == "f")
                .collect();
            match candidates.iter().find(|f| {
                f.input_types
                    .iter()
                    .map(String::as_str)
                    .eq(types.iter().copied())
            }) {
                Some(f) => bound.push((contract, *f)),
                None if candidates.is_empty() => notes.push(format!(
                    "RPC contract {}: the database has no such function; its contract was skipped",
                    contract.signature()
                )),
                None => notes.push(format!(
                    "RPC contract {}: the database has {} instead; its contract was skipped",
                    contract.signature(),
                    candidates
                        .iter()
                        .map(|f| f.signature())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            }
        }
        (bound, notes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_parse_nested_calls_literals_and_markers() {
        let e =
            Expr::parse("any(eq(p_scope, 'user'), super_admin($caller, unit_org(p_id)))").unwrap();
        let Expr::Call(name, args) = e else {
            panic!("a call")
        };
        assert_eq!(name, "any");
        assert_eq!(
            args[0],
            Expr::Call(
                "eq".into(),
                vec![Expr::Atom("p_scope".into()), Expr::Atom("'user'".into())]
            )
        );
        assert_eq!(Expr::parse("{}").unwrap(), Expr::Atom("{}".into()));
        let text = "any(eq(p_scope, 'user'), super_admin($caller, unit_org(p_id)))";
        assert_eq!(Expr::parse(text).unwrap().to_string(), text);
        assert!(Expr::parse("eq(a, b").is_err());
        assert!(Expr::parse("eq(a) x").is_err());
    }

    #[test]
    fn the_reference_contracts_cover_every_rpc_of_the_spec() {
        let contracts = Contracts::reference();
        let spec = include_str!("../../schema/80_rpc/020_organizations.sql").to_string()
            + include_str!("../../schema/80_rpc/010_profile.sql")
            + include_str!("../../schema/80_rpc/030_organization_members.sql")
            + include_str!("../../schema/80_rpc/040_units.sql")
            + include_str!("../../schema/80_rpc/050_files.sql")
            + include_str!("../../schema/80_rpc/060_audit.sql")
            + include_str!("../../schema/80_rpc/070_invitations.sql")
            + include_str!("../../schema/80_rpc/080_secrets.sql")
            + include_str!("../../schema/80_rpc/090_products.sql");
        let defined: std::collections::BTreeSet<&str> = spec
            .split("create or replace function public.")
            .skip(1)
            .filter_map(|s| s.split('(').next())
            .collect();
        let modelled: std::collections::BTreeSet<&str> =
            contracts.rpcs.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(defined, modelled, "every reference RPC has a contract");
        assert_eq!(defined.len(), 47);
    }
}
