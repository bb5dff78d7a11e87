//! Where the objects a report names are defined in the SQL sources, as file and line.
//!
//! SARIF results, the Markdown and HTML findings point a reviewer at the statement
//! to look at. The catalog knows objects but not files, so this reads the same
//! sources the run installed: it cuts each into statements with the installer's
//! lexer (so quotes, dollar-quoted bodies and comments never fool it) and reads the
//! head of each `CREATE` statement. It is a locator, not a parser: a statement it does
//! not recognise is skipped, and an object it cannot find simply has no location.
//!
//! Which statement wins, when several mention an object: a `CREATE TABLE`, `VIEW`,
//! `FUNCTION` or `PROCEDURE` over a `CREATE POLICY … ON` it (the definition, not a
//! rule about it); among definitions the first, unless a later one says `OR REPLACE`
//! (that one is what the database runs); among policies the first. Unqualified names
//! count as `public`, the schema of a default search path.

use std::collections::BTreeMap;

use super::Location;
use crate::install::{split_statements, SqlSource};

/// Finds where each of `objects` (`schema.name`, optionally followed by an argument
/// list) is defined in `sources`; objects not found are left out of the map.
pub(crate) fn locate_objects<'a>(
    sources: &[SqlSource],
    objects: impl Iterator<Item = &'a str>,
) -> BTreeMap<String, Location> {
    let definitions = definitions(sources);
    objects
        .filter_map(|object| {
            let key = object_key(object)?;
            definitions
                .get(&key)
                .map(|d| (object.to_string(), d.location.clone()))
        })
        .collect()
}

/// What kind of statement mentioned an object, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Mention {
    Policy,
    Definition,
}

#[derive(Debug, Clone)]
struct Found {
    location: Location,
    mention: Mention,
}

/// (schema, name) → the winning statement, over all sources in load order.
fn definitions(sources: &[SqlSource]) -> BTreeMap<(String, String), Found> {
    let mut found: BTreeMap<(String, String), Found> = BTreeMap::new();
    for source in sources {
        // The run installed these sources, so they split; if one does not (a source
        // given only to the locator), it has no locations rather than failing a report.
        let Ok(statements) = split_statements(&source.sql) else {
            continue;
        };
        for statement in statements {
            let Some((mention, replaces, name)) = recognise(&head_tokens(&statement.sql)) else {
                continue;
            };
            let candidate = Found {
                location: Location {
                    file: source.name.clone(),
                    line: statement.line,
                },
                mention,
            };
            match found.get(&name) {
                Some(existing)
                    if existing.mention > mention
                        || (existing.mention == mention
                            && !(mention == Mention::Definition && replaces)) => {}
                _ => {
                    found.insert(name, candidate);
                }
            }
        }
    }
    found
}

/// `schema.name(args)` → (schema, name); `None` for something that is no object name.
fn object_key(object: &str) -> Option<(String, String)> {
    let bare = object.split('(').next().unwrap_or("").trim();
    let (schema, name) = match bare.split_once('.') {
        Some((schema, name)) => (unquote(schema), unquote(name)),
        None => ("public".to_string(), unquote(bare)),
    };
    (!name.is_empty()).then_some((schema, name))
}

/// Object names in reports are catalog names; tolerate a quoted form all the same.
fn unquote(part: &str) -> String {
    let part = part.trim();
    match part.strip_prefix('"').and_then(|p| p.strip_suffix('"')) {
        Some(inner) => inner.replace("\"\"", "\""),
        None => part.to_string(),
    }
}

/// A token of a statement's head.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// An unquoted word, folded to lower case as PostgreSQL folds it.
    Word(String),
    /// A quoted identifier, exactly as written.
    Quoted(String),
    Dot,
}

impl Token {
    fn is_keyword(&self, keyword: &str) -> bool {
        matches!(self, Token::Word(w) if w == keyword)
    }

    fn identifier(&self) -> Option<&str> {
        match self {
            Token::Word(w) | Token::Quoted(w) => Some(w),
            Token::Dot => None,
        }
    }
}

/// Enough tokens to read `CREATE [OR REPLACE] … <kind> [IF NOT EXISTS] <name>` and
/// `CREATE POLICY <name> ON <table>`; stops at the first other character.
fn head_tokens(sql: &str) -> Vec<Token> {
    const ENOUGH: usize = 12;
    let chars: Vec<char> = sql.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() && tokens.len() < ENOUGH {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            // Nested comments are rare in a statement head; the first `*/` ends it.
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                i += 1;
            }
            i += 2;
        } else if c == '"' {
            let mut ident = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return tokens,
                    Some('"') if chars.get(i + 1) == Some(&'"') => {
                        ident.push('"');
                        i += 2;
                    }
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some(&other) => {
                        ident.push(other);
                        i += 1;
                    }
                }
            }
            tokens.push(Token::Quoted(ident));
        } else if c == '.' {
            tokens.push(Token::Dot);
            i += 1;
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            tokens.push(Token::Word(word.to_lowercase()));
        } else {
            break;
        }
    }
    tokens
}

/// Reads a statement head: what it mentions, whether it says `OR REPLACE`, and the
/// (schema, name) of the object.
fn recognise(tokens: &[Token]) -> Option<(Mention, bool, (String, String))> {
    if !tokens.first()?.is_keyword("create") {
        return None;
    }
    let mut i = 1;
    let mut replaces = false;
    if tokens.get(i).is_some_and(|t| t.is_keyword("or"))
        && tokens.get(i + 1).is_some_and(|t| t.is_keyword("replace"))
    {
        replaces = true;
        i += 2;
    }
    const MODIFIERS: &[&str] = &[
        "temp",
        "temporary",
        "unlogged",
        "global",
        "local",
        "materialized",
        "recursive",
    ];
    while tokens
        .get(i)
        .is_some_and(|t| MODIFIERS.iter().any(|m| t.is_keyword(m)))
    {
        i += 1;
    }
    let kind = tokens.get(i)?;
    i += 1;
    if ["table", "view"].iter().any(|k| kind.is_keyword(k)) {
        if tokens.get(i).is_some_and(|t| t.is_keyword("if"))
            && tokens.get(i + 1).is_some_and(|t| t.is_keyword("not"))
            && tokens.get(i + 2).is_some_and(|t| t.is_keyword("exists"))
        {
            i += 3;
        }
        Some((Mention::Definition, replaces, qualified_name(tokens, i)?))
    } else if ["function", "procedure"].iter().any(|k| kind.is_keyword(k)) {
        Some((Mention::Definition, replaces, qualified_name(tokens, i)?))
    } else if kind.is_keyword("policy") {
        tokens.get(i)?.identifier()?;
        if !tokens.get(i + 1)?.is_keyword("on") {
            return None;
        }
        Some((Mention::Policy, false, qualified_name(tokens, i + 2)?))
    } else {
        None
    }
}

/// `name` or `schema.name` starting at token `i`.
fn qualified_name(tokens: &[Token], i: usize) -> Option<(String, String)> {
    let first = tokens.get(i)?.identifier()?.to_string();
    if tokens.get(i + 1) == Some(&Token::Dot) {
        let second = tokens.get(i + 2)?.identifier()?.to_string();
        Some((first, second))
    } else {
        Some(("public".to_string(), first))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(name: &str, sql: &str) -> SqlSource {
        SqlSource {
            name: name.into(),
            sql: sql.into(),
        }
    }

    fn locate(sources: &[SqlSource], objects: &[&str]) -> BTreeMap<String, String> {
        locate_objects(sources, objects.iter().copied())
            .into_iter()
            .map(|(k, v)| (k, v.to_string()))
            .collect()
    }

    #[test]
    fn finds_tables_views_functions_and_policies_whatever_the_spelling() {
        let sql = "-- header comment mentioning create table core.fake (x int);\n\
                   CREATE TABLE core.units (id uuid);\n\
                   create   table\n  IF NOT EXISTS \"core\" . \"Odd Name\" (id int);\n\
                   Create Or Replace Function core.is_member(org uuid) returns bool\n\
                   language sql as $$ select true; create table core.hidden (x int) $$;\n\
                   CREATE /* why */ MATERIALIZED VIEW reporting.totals AS SELECT 1;\n\
                   CREATE POLICY \"members read\" ON core.memberships FOR SELECT USING (true);\n\
                   create unlogged table plain (x int);\n";
        let found = locate(
            &[source("a.sql", sql)],
            &[
                "core.units",
                "core.Odd Name",
                "core.is_member(uuid)",
                "reporting.totals",
                "core.memberships",
                "public.plain",
                "core.fake",
                "core.hidden",
                "core.missing",
            ],
        );
        let expected: BTreeMap<String, String> = [
            ("core.units", "a.sql:2"),
            ("core.Odd Name", "a.sql:3"),
            ("core.is_member(uuid)", "a.sql:5"),
            ("reporting.totals", "a.sql:7"),
            ("core.memberships", "a.sql:8"),
            ("public.plain", "a.sql:9"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn a_definition_beats_a_policy_and_or_replace_beats_an_earlier_definition() {
        let sources = [
            source("10.sql", "create policy p on core.units using (true);"),
            source(
                "20.sql",
                "create table core.units (id int);\ncreate function core.f() returns int language sql as 'select 1';",
            ),
            source(
                "30.sql",
                "create table if not exists core.units (id int);\n\n\
                 create or replace function core.f() returns int language sql as 'select 2';",
            ),
        ];
        let found = locate(&sources, &["core.units", "core.f"]);
        assert_eq!(found["core.units"], "20.sql:1");
        assert_eq!(found["core.f"], "30.sql:3");
    }

    #[test]
    fn a_policy_locates_a_table_defined_elsewhere() {
        let sources = [source(
            "overlay.sql",
            "GRANT SELECT ON core.units TO app_user;\nCREATE POLICY leak ON core.units FOR SELECT TO app_user USING (true);",
        )];
        assert_eq!(
            locate(&sources, &["core.units"])["core.units"],
            "overlay.sql:2"
        );
    }

    #[test]
    fn unreadable_sources_and_non_object_names_are_skipped() {
        let sources = [
            source(
                "bad.sql",
                "create table core.x (a text default 'unterminated);",
            ),
            source("good.sql", "create table core.y (a int);"),
        ];
        let found = locate(&sources, &["core.x", "core.y", "", "(args)"]);
        assert_eq!(found.keys().collect::<Vec<_>>(), ["core.y"]);
    }

    #[test]
    fn the_reference_schema_defines_its_core_tables() {
        let sources = SqlSource::reference(crate::flavor::Flavor::Payload).unwrap();
        let found = locate_objects(&sources, ["core.units", "core.memberships"].into_iter());
        for (object, location) in &found {
            let source = sources.iter().find(|s| s.name == location.file).unwrap();
            let line = source
                .sql
                .lines()
                .nth(location.line - 1)
                .unwrap()
                .to_lowercase();
            let table = object.split('.').nth(1).unwrap();
            assert!(
                line.contains("create table") && line.contains(table),
                "{object} located at {location}: `{line}`"
            );
        }
        assert_eq!(found.len(), 2, "{found:?}");
    }
}
