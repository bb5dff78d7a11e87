//! The rule language: who may do something to a row, as a small boolean expression.
//!
//! `member | self(user_id)`, `super_admin & !self(user_id)`,
//! `member & self(invited_by) & !role(role_id, super_admin)`. `&` binds tighter than
//! `|`, `!` negates, parentheses group. Atoms are the vocabulary of SPEC §3; what each
//! means for a concrete row is decided by the oracle, not here.

use std::fmt;

/// A parsed rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    Atom(Atom),
}

/// One condition on (actor, row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Atom {
    /// Nobody.
    Never,
    /// Every authenticated user.
    Always,
    /// The user is a live member of the row's organization.
    Member,
    /// The user is the super admin of the row's organization.
    SuperAdmin,
    /// The user is a live member of the row's unit (and of its organization).
    UnitMember,
    /// The row belongs to no organization (its tenant column is NULL).
    Global,
    /// The row's column holds the user's id.
    SelfColumn(String),
    /// The user shares a live organization with the user whose id is in the column.
    SharesOrg(String),
    /// An invitation addressed to the user's email (compared case-insensitively with
    /// the user's own `users_meta.email`).
    Invitee,
    /// The timestamp column lies in the future.
    Future(String),
    /// The column references a role with this name.
    Role(String, String),
    /// The column's value, as text, equals the given one (`null`: the column is NULL).
    Is(String, String),
    /// The row the column references (by foreign key) is live and global or in the
    /// same organization as this row; NULL passes. Catches cross-tenant references.
    SameOrg(String),
}

impl Expr {
    /// Every column an expression mentions, for validation against the catalog.
    pub(crate) fn columns(&self) -> Vec<&str> {
        match self {
            Expr::Or(v) | Expr::And(v) => v.iter().flat_map(Expr::columns).collect(),
            Expr::Not(e) => e.columns(),
            Expr::Atom(a) => match a {
                Atom::SelfColumn(c)
                | Atom::SharesOrg(c)
                | Atom::Role(c, _)
                | Atom::Is(c, _)
                | Atom::SameOrg(c)
                | Atom::Future(c) => vec![c],
                _ => vec![],
            },
        }
    }

    /// Whether the expression can be true for some user (`never` alone cannot).
    pub(crate) fn is_never(&self) -> bool {
        matches!(self, Expr::Atom(Atom::Never))
    }

    /// Every atom of the expression, in order.
    /// The expression with every atom replaced by what `f` makes of it.
    pub(crate) fn map_atoms(&self, f: &impl Fn(&Atom) -> Expr) -> Expr {
        match self {
            Expr::Or(v) => Expr::Or(v.iter().map(|e| e.map_atoms(f)).collect()),
            Expr::And(v) => Expr::And(v.iter().map(|e| e.map_atoms(f)).collect()),
            Expr::Not(e) => Expr::Not(Box::new(e.map_atoms(f))),
            Expr::Atom(a) => f(a),
        }
    }

    /// The same rule with constants folded: `never` and `always` absorbed or dropped,
    /// double negations removed, nested `&`/`|` flattened. Meaning is unchanged.
    pub(crate) fn simplified(&self) -> Expr {
        let never = || Expr::Atom(Atom::Never);
        let always = || Expr::Atom(Atom::Always);
        let fold = |parts: &[Expr], and: bool| -> Expr {
            let (absorbing, neutral) = if and {
                (Atom::Never, Atom::Always)
            } else {
                (Atom::Always, Atom::Never)
            };
            let mut kept = Vec::new();
            for part in parts.iter().map(Expr::simplified) {
                match part {
                    Expr::Atom(ref a) if *a == absorbing => return Expr::Atom(absorbing),
                    Expr::Atom(ref a) if *a == neutral => {}
                    Expr::And(inner) if and => kept.extend(inner),
                    Expr::Or(inner) if !and => kept.extend(inner),
                    other => kept.push(other),
                }
            }
            match kept.len() {
                0 => Expr::Atom(neutral),
                1 => kept.pop().expect("one part"),
                _ if and => Expr::And(kept),
                _ => Expr::Or(kept),
            }
        };
        match self {
            Expr::And(parts) => fold(parts, true),
            Expr::Or(parts) => fold(parts, false),
            Expr::Not(inner) => match inner.simplified() {
                Expr::Atom(Atom::Never) => always(),
                Expr::Atom(Atom::Always) => never(),
                Expr::Not(x) => *x,
                other => Expr::Not(Box::new(other)),
            },
            Expr::Atom(a) => Expr::Atom(a.clone()),
        }
    }

    pub(crate) fn atoms(&self) -> Vec<&Atom> {
        match self {
            Expr::Or(v) | Expr::And(v) => v.iter().flat_map(Expr::atoms).collect(),
            Expr::Not(e) => e.atoms(),
            Expr::Atom(a) => vec![a],
        }
    }
}

impl fmt::Display for Expr {
    /// Prints the rule back in the rules-file syntax (for messages and reports).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join =
            |f: &mut fmt::Formatter<'_>, parts: &[Expr], sep: &str, wrap_or: bool| -> fmt::Result {
                for (i, part) in parts.iter().enumerate() {
                    if i > 0 {
                        f.write_str(sep)?;
                    }
                    if wrap_or && matches!(part, Expr::Or(_)) {
                        write!(f, "({part})")?;
                    } else {
                        write!(f, "{part}")?;
                    }
                }
                Ok(())
            };
        match self {
            Expr::Or(parts) => join(f, parts, " | ", false),
            Expr::And(parts) => join(f, parts, " & ", true),
            Expr::Not(inner) if matches!(**inner, Expr::Atom(_)) => write!(f, "!{inner}"),
            Expr::Not(inner) => write!(f, "!({inner})"),
            Expr::Atom(atom) => match atom {
                Atom::Never => f.write_str("never"),
                Atom::Always => f.write_str("always"),
                Atom::Member => f.write_str("member"),
                Atom::SuperAdmin => f.write_str("super_admin"),
                Atom::UnitMember => f.write_str("unit_member"),
                Atom::Global => f.write_str("global"),
                Atom::Invitee => f.write_str("invitee"),
                Atom::SelfColumn(c) => write!(f, "self({c})"),
                Atom::SharesOrg(c) => write!(f, "shares_org({c})"),
                Atom::SameOrg(c) => write!(f, "same_org({c})"),
                Atom::Future(c) => write!(f, "future({c})"),
                Atom::Role(c, n) => write!(f, "role({c}, {n})"),
                Atom::Is(c, v) => write!(f, "is({c}, {v})"),
            },
        }
    }
}

/// A rule that does not parse, with the offending part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{rule}`: {problem}")]
pub(crate) struct ParseError {
    pub(crate) rule: String,
    pub(crate) problem: String,
}

pub(crate) fn parse(rule: &str) -> Result<Expr, ParseError> {
    let tokens = tokenize(rule).map_err(|problem| ParseError {
        rule: rule.to_string(),
        problem,
    })?;
    let mut parser = Parser { tokens, pos: 0 };
    let expr = parser.or().map_err(|problem| ParseError {
        rule: rule.to_string(),
        problem,
    })?;
    if parser.pos != parser.tokens.len() {
        return Err(ParseError {
            rule: rule.to_string(),
            problem: format!("unexpected `{}`", parser.tokens[parser.pos]),
        });
    }
    Ok(expr)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Punct(char),
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Word(w) => f.write_str(w),
            Token::Punct(c) => write!(f, "{c}"),
        }
    }
}

fn tokenize(s: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if "|&!(),".contains(c) {
            out.push(Token::Punct(c));
            chars.next();
        } else if c.is_alphanumeric() || c == '_' || c == '-' || c == '.' {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_alphanumeric() || c == '_' || c == '-' || c == '.' {
                    word.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            out.push(Token::Word(word));
        } else {
            return Err(format!("unexpected character `{c}`"));
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(&Token::Punct(c)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut parts = vec![self.and()?];
        while self.eat('|') {
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.pop().unwrap()
        } else {
            Expr::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut parts = vec![self.not()?];
        while self.eat('&') {
            parts.push(self.not()?);
        }
        Ok(if parts.len() == 1 {
            parts.pop().unwrap()
        } else {
            Expr::And(parts)
        })
    }

    fn not(&mut self) -> Result<Expr, String> {
        if self.eat('!') {
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        if self.eat('(') {
            let inner = self.or()?;
            if !self.eat(')') {
                return Err("missing `)`".into());
            }
            return Ok(inner);
        }
        self.atom()
    }

    fn word(&mut self) -> Result<String, String> {
        match self.tokens.get(self.pos).cloned() {
            Some(Token::Word(w)) => {
                self.pos += 1;
                Ok(w)
            }
            Some(other) => Err(format!("expected a name, found `{other}`")),
            None => Err("expected a name, found the end of the rule".into()),
        }
    }

    fn args(&mut self, name: &str, count: usize) -> Result<Vec<String>, String> {
        if !self.eat('(') {
            return Err(format!("`{name}` takes {count} argument(s): {name}(…)"));
        }
        let mut args = vec![self.word()?];
        while self.eat(',') {
            args.push(self.word()?);
        }
        if !self.eat(')') {
            return Err(format!("missing `)` after the arguments of `{name}`"));
        }
        if args.len() != count {
            return Err(format!(
                "`{name}` takes {count} argument(s), got {}",
                args.len()
            ));
        }
        Ok(args)
    }

    fn atom(&mut self) -> Result<Expr, String> {
        let name = self.word()?;
        let atom = match name.as_str() {
            "never" => Atom::Never,
            "always" => Atom::Always,
            "member" => Atom::Member,
            "super_admin" => Atom::SuperAdmin,
            "unit_member" => Atom::UnitMember,
            "global" => Atom::Global,
            "invitee" => Atom::Invitee,
            "self" => Atom::SelfColumn(self.args("self", 1)?.remove(0)),
            "shares_org" => Atom::SharesOrg(self.args("shares_org", 1)?.remove(0)),
            "same_org" => Atom::SameOrg(self.args("same_org", 1)?.remove(0)),
            "future" => Atom::Future(self.args("future", 1)?.remove(0)),
            "role" => {
                let mut a = self.args("role", 2)?;
                let role = a.pop().unwrap();
                Atom::Role(a.pop().unwrap(), role)
            }
            "is" => {
                let mut a = self.args("is", 2)?;
                let value = a.pop().unwrap();
                Atom::Is(a.pop().unwrap(), value)
            }
            other => {
                return Err(format!(
                    "unknown term `{other}`; known: never, always, member, super_admin, unit_member, \
                     global, invitee, self(col), shares_org(col), same_org(col), role(col, name), is(col, value), future(col)"
                ))
            }
        };
        Ok(Expr::Atom(atom))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn atom(a: Atom) -> Expr {
        Expr::Atom(a)
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let e = parse("super_admin | self(invited_by) & !role(role_id, super_admin)").unwrap();
        assert_eq!(
            e,
            Expr::Or(vec![
                atom(Atom::SuperAdmin),
                Expr::And(vec![
                    atom(Atom::SelfColumn("invited_by".into())),
                    Expr::Not(Box::new(atom(Atom::Role(
                        "role_id".into(),
                        "super_admin".into()
                    )))),
                ]),
            ])
        );
        assert_eq!(e.columns(), ["invited_by", "role_id"]);
    }

    #[test]
    fn rules_print_back_in_their_own_syntax() {
        for rule in [
            "member | self(user_id)",
            "(super_admin | self(invited_by)) & !is(status, accepted)",
            "!(member | global)",
        ] {
            assert_eq!(parse(rule).unwrap().to_string(), rule);
        }
    }

    #[test]
    fn parentheses_group() {
        let e = parse("(member | global) & !is(status, cancelled)").unwrap();
        assert!(matches!(e, Expr::And(ref v) if matches!(v[0], Expr::Or(_))));
    }

    #[test]
    fn mistakes_say_what_is_wrong() {
        let err = parse("memer").unwrap_err().to_string();
        assert!(
            err.contains("unknown term `memer`") && err.contains("known:"),
            "{err}"
        );
        let err = parse("self()").unwrap_err().to_string();
        assert!(err.contains("expected a name"), "{err}");
        let err = parse("member |").unwrap_err().to_string();
        assert!(err.contains("end of the rule"), "{err}");
        let err = parse("member member").unwrap_err().to_string();
        assert!(err.contains("unexpected `member`"), "{err}");
        let err = parse("role(role_id)").unwrap_err().to_string();
        assert!(err.contains("takes 2"), "{err}");
    }

    #[test]
    fn constants_fold_away_without_changing_meaning() {
        let simple = |rule: &str| parse(rule).unwrap().simplified().to_string();
        assert_eq!(simple("global | member"), "global | member");
        assert_eq!(simple("always | member"), "always");
        assert_eq!(simple("never & member"), "never");
        assert_eq!(simple("always & member & !never"), "member");
        assert_eq!(simple("!(!member)"), "member");
        assert_eq!(simple("(member | never) & (always | self(x))"), "member");
        assert_eq!(
            simple("(member | invitee) & (global | never)"),
            "(member | invitee) & global"
        );
    }
}
