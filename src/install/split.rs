//! Cutting a SQL file into statements, each with the line it starts on.
//!
//! PostgreSQL reports an error's position within the statement it was sent, and for
//! an error at execution time often no position at all; to name the file's line we
//! send one statement at a time and remember where each began. This is a lexer, not a
//! parser: it only has to know where a `;` does not end a statement (quotes,
//! identifiers, dollar quoting, comments).

/// One statement of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Statement {
    /// 1-based line of the statement's first significant character.
    pub(crate) line: usize,
    pub(crate) sql: String,
}

/// A construct the lexer cannot accept, with the line where it starts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub(crate) struct SplitError {
    pub(crate) line: usize,
    pub(crate) problem: String,
}

/// Splits `sql` at top-level semicolons. Comment-only remainders are dropped.
pub(crate) fn split_statements(sql: &str) -> Result<Vec<Statement>, SplitError> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut line = 1;
    let mut start: Option<(usize, usize)> = None; // (byte offset, line)
    let mut i = 0;
    let mut at_line_start = true;

    while i < bytes.len() {
        let c = bytes[i];
        if at_line_start && c == b'\\' && start.is_none() {
            return Err(SplitError {
                line,
                problem: "psql meta-commands (lines starting with `\\`) are not SQL; \
                          remove them or apply the file with psql"
                    .into(),
            });
        }
        if c == b'\n' {
            line += 1;
            at_line_start = true;
            i += 1;
            continue;
        }
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        at_line_start = false;

        // Comments never start a statement.
        if c == b'-' && bytes.get(i + 1) == Some(&b'-') {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c == b'/' && bytes.get(i + 1) == Some(&b'*') {
            let begin = line;
            i = skip_block_comment(bytes, i, &mut line).ok_or(SplitError {
                line: begin,
                problem: "unterminated /* comment".into(),
            })?;
            continue;
        }

        if c == b';' {
            if let Some((offset, first_line)) = start.take() {
                out.push(Statement {
                    line: first_line,
                    sql: sql[offset..i].trim_end().to_string(),
                });
            }
            i += 1;
            continue;
        }

        if start.is_none() {
            start = Some((i, line));
        }
        let begin = line;
        let unterminated = |what: &str| SplitError {
            line: begin,
            problem: format!("unterminated {what}"),
        };
        i = match c {
            b'\'' => {
                let escapes =
                    i > 0 && matches!(bytes[i - 1], b'e' | b'E') && !ident_before(bytes, i - 1);
                skip_quoted(bytes, i, b'\'', escapes, &mut line)
                    .ok_or_else(|| unterminated("string literal"))?
            }
            b'"' => skip_quoted(bytes, i, b'"', false, &mut line)
                .ok_or_else(|| unterminated("quoted identifier"))?,
            b'$' if !ident_before(bytes, i) => match dollar_tag(bytes, i) {
                Some(tag) => skip_dollar_quoted(bytes, i, tag, &mut line)
                    .ok_or_else(|| unterminated("dollar-quoted string"))?,
                None => i + 1,
            },
            _ => i + 1,
        };
    }
    if let Some((offset, first_line)) = start {
        out.push(Statement {
            line: first_line,
            sql: sql[offset..].trim_end().to_string(),
        });
    }
    Ok(out)
}

/// True when the byte before `i` continues an identifier (so `$1` or `a$b` are not
/// the start of a dollar quote, and `name'` is not an E-string).
fn ident_before(bytes: &[u8], i: usize) -> bool {
    i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_' || bytes[i - 1] == b'$')
}

fn skip_block_comment(bytes: &[u8], mut i: usize, line: &mut usize) -> Option<usize> {
    let mut depth = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1)) {
            (b'/', Some(b'*')) => {
                depth += 1;
                i += 2;
            }
            (b'*', Some(b'/')) => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return Some(i);
                }
            }
            (b'\n', _) => {
                *line += 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
    None
}

/// Skips a quoted run starting at `i` (the opening quote); a doubled quote is an
/// escaped quote, and with `backslash` so is `\'`.
fn skip_quoted(
    bytes: &[u8],
    mut i: usize,
    quote: u8,
    backslash: bool,
    line: &mut usize,
) -> Option<usize> {
    i += 1;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'\n' {
            *line += 1;
        }
        if backslash && c == b'\\' {
            i += 2;
            continue;
        }
        if c == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

/// `$tag$` starting at `i`, if that is what is there.
fn dollar_tag(bytes: &[u8], i: usize) -> Option<&[u8]> {
    let mut j = i + 1;
    while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
        j += 1;
    }
    if j < bytes.len() && bytes[j] == b'$' && !bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
        Some(&bytes[i..=j])
    } else {
        None
    }
}

fn skip_dollar_quoted(bytes: &[u8], i: usize, tag: &[u8], line: &mut usize) -> Option<usize> {
    let mut j = i + tag.len();
    while j + tag.len() <= bytes.len() {
        if bytes[j] == b'\n' {
            *line += 1;
        }
        if &bytes[j..j + tag.len()] == tag {
            return Some(j + tag.len());
        }
        j += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_and_heads(sql: &str) -> Vec<(usize, String)> {
        split_statements(sql)
            .unwrap()
            .into_iter()
            .map(|s| (s.line, s.sql.chars().take(12).collect()))
            .collect()
    }

    #[test]
    fn semicolons_inside_quotes_comments_and_dollar_bodies_do_not_split() {
        let sql = "-- header; not a statement\n\
                   SELECT ';' AS a, \"x;y\";\n\
                   /* block; /* nested; */ still */\n\
                   CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $body$ SELECT 1; $body$;\n\
                   SELECT E'it\\'s; fine', $1 ;\n";
        assert_eq!(
            lines_and_heads(sql),
            vec![
                (2, "SELECT ';' A".to_string()),
                (4, "CREATE FUNCT".to_string()),
                (5, "SELECT E'it\\".to_string()),
            ]
        );
    }

    #[test]
    fn a_statement_starts_at_its_first_significant_line() {
        let sql = "\n\n  -- lead\n  SELECT\n 1;\n\nSELECT 2";
        assert_eq!(
            lines_and_heads(sql),
            vec![(4, "SELECT\n 1".to_string()), (7, "SELECT 2".to_string())]
        );
    }

    #[test]
    fn unterminated_constructs_name_their_line() {
        let err = split_statements("SELECT 1;\nSELECT $$ never closed;\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.problem.contains("dollar"), "{err}");
        let err = split_statements("SELECT 'oops;\n").unwrap_err();
        assert_eq!(err.line, 1);
    }

    #[test]
    fn psql_meta_commands_are_refused_with_a_hint() {
        let err = split_statements("SELECT 1;\n\\set ON_ERROR_STOP on\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.problem.contains("psql"));
    }
}
