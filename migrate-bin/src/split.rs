//! Splitting a migration's SQL into single statements, for migrations that run outside a
//! transaction: PostgreSQL runs a multi-statement query string as one implicit transaction,
//! which `CREATE INDEX CONCURRENTLY` refuses, so each statement must be sent on its own.

/// Splits `sql` at top-level semicolons, keeping quoted strings, quoted identifiers,
/// dollar-quoted bodies and comments intact. Statements that hold only whitespace and
/// comments are dropped; returned statements are trimmed and carry no trailing `;`.
pub fn split_statements(sql: &str) -> Vec<String> {
    let bytes = sql.as_bytes();
    let mut statements = Vec::new();
    let mut start = 0;
    let mut has_code = false;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = skip_line_comment(bytes, i);
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = skip_block_comment(bytes, i);
                continue;
            }
            b'\'' => {
                let escapes = i > 0
                    && matches!(bytes[i - 1], b'e' | b'E')
                    && !is_ident_byte_before(bytes, i - 1);
                i = skip_quoted(bytes, i, b'\'', escapes);
                has_code = true;
                continue;
            }
            b'"' => {
                i = skip_quoted(bytes, i, b'"', false);
                has_code = true;
                continue;
            }
            b'$' => {
                if let Some(tag_len) = dollar_tag_len(bytes, i) {
                    i = skip_dollar_quoted(bytes, i, tag_len);
                    has_code = true;
                    continue;
                }
                has_code = true;
            }
            b';' => {
                if has_code {
                    statements.push(sql[start..i].trim().to_string());
                }
                start = i + 1;
                has_code = false;
            }
            c if !c.is_ascii_whitespace() => has_code = true,
            _ => {}
        }
        i += 1;
    }
    if has_code {
        statements.push(sql[start..].trim().to_string());
    }
    statements
}

/// A word or quoted identifier of a statement, with its byte offset in the statement.
struct Token<'a> {
    text: &'a str,
    quoted: bool,
    offset: usize,
}

/// The first `limit` words and quoted identifiers of `statement`, skipping comments, string
/// literals, dollar-quoted bodies and punctuation.
fn leading_tokens(statement: &str, limit: usize) -> Vec<Token<'_>> {
    let bytes = statement.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() && tokens.len() < limit {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'-' && bytes.get(i + 1) == Some(&b'-') {
            i = skip_line_comment(bytes, i);
        } else if c == b'/' && bytes.get(i + 1) == Some(&b'*') {
            i = skip_block_comment(bytes, i);
        } else if c == b'"' {
            let end = skip_quoted(bytes, i, b'"', false);
            let inner = statement
                .get(i + 1..end.saturating_sub(1))
                .unwrap_or_default();
            tokens.push(Token {
                text: inner,
                quoted: true,
                offset: i,
            });
            i = end;
        } else if c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80 {
            let start = i;
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric()
                    || bytes[i] == b'_'
                    || bytes[i] == b'$'
                    || bytes[i] >= 0x80)
            {
                i += 1;
            }
            tokens.push(Token {
                text: &statement[start..i],
                quoted: false,
                offset: start,
            });
        } else if c == b'\'' {
            i = skip_quoted(bytes, i, b'\'', false);
        } else if let Some(tag_len) = (c == b'$').then(|| dollar_tag_len(bytes, i)).flatten() {
            i = skip_dollar_quoted(bytes, i, tag_len);
        } else {
            // Punctuation between words (parentheses, commas, operators).
            i += 1;
        }
    }
    tokens
}

fn is_word(token: Option<&Token<'_>>, word: &str) -> bool {
    token.is_some_and(|t| !t.quoted && t.text.eq_ignore_ascii_case(word))
}

/// A transaction-control statement found in a migration's SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionControl {
    /// 1-based line of its first keyword.
    pub line: usize,
    /// The statement's leading keywords, e.g. `COMMIT` or `PREPARE TRANSACTION`.
    pub keyword: String,
}

/// Statements of `sql` that begin, end or split a transaction (BEGIN, START TRANSACTION,
/// COMMIT, END, ROLLBACK, ABORT, SAVEPOINT, RELEASE, PREPARE TRANSACTION, COMMIT/ROLLBACK
/// PREPARED). Inside a transactional migration they would commit part of it behind the
/// engine's back. Bodies in dollar quotes (DO blocks, functions, procedures) and SQL-standard
/// `BEGIN ATOMIC … END` bodies are not statements of their own and are not reported.
pub fn transaction_control_statements(sql: &str) -> Vec<TransactionControl> {
    let mut found = Vec::new();
    let mut cursor = 0;
    let mut in_atomic_body = false;
    for statement in split_statements(sql) {
        let at = sql[cursor..]
            .find(&statement)
            .map_or(cursor, |i| cursor + i);
        cursor = at + statement.len();
        let tokens = leading_tokens(&statement, 64);
        if in_atomic_body {
            // The splitter cut a `BEGIN ATOMIC` body at its semicolons; its final `END`
            // closes the routine, it is not a COMMIT.
            if is_word(tokens.first(), "end") {
                in_atomic_body = false;
            }
            continue;
        }
        if tokens
            .windows(2)
            .any(|w| is_word(Some(&w[0]), "begin") && is_word(Some(&w[1]), "atomic"))
        {
            in_atomic_body = true;
            continue;
        }
        let first = tokens.first();
        let second = tokens.get(1);
        let keyword = if is_word(first, "begin")
            || is_word(first, "commit")
            || is_word(first, "end")
            || is_word(first, "rollback")
            || is_word(first, "abort")
            || is_word(first, "savepoint")
            || is_word(first, "release")
        {
            let mut k = first
                .map(|t| t.text.to_ascii_uppercase())
                .unwrap_or_default();
            if is_word(second, "prepared") {
                k.push_str(" PREPARED");
            }
            Some(k)
        } else if is_word(first, "start") && is_word(second, "transaction") {
            Some("START TRANSACTION".to_string())
        } else if is_word(first, "prepare") && is_word(second, "transaction") {
            Some("PREPARE TRANSACTION".to_string())
        } else {
            None
        };
        if let (Some(keyword), Some(token)) = (keyword, first) {
            let offset = at + token.offset;
            let line = sql[..offset.min(sql.len())].matches('\n').count() + 1;
            found.push(TransactionControl { line, keyword });
        }
    }
    found
}

/// An index a migration creates by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedIndex {
    /// Its name (unquoted names folded to lower case, as PostgreSQL does).
    pub name: String,
    /// The statement says IF NOT EXISTS (an existing valid index is then no obstacle).
    pub if_not_exists: bool,
}

/// The indexes that `CREATE [UNIQUE] INDEX [CONCURRENTLY] [IF NOT EXISTS] name ON …`
/// statements of `sql` create. Statements without a name are skipped: the server picks it,
/// so it cannot be known here.
pub fn created_indexes(sql: &str) -> Vec<CreatedIndex> {
    let mut names = Vec::new();
    for statement in split_statements(sql) {
        let tokens = leading_tokens(&statement, 10);
        let mut t = tokens.iter().peekable();
        if !is_word(t.next(), "create") {
            continue;
        }
        if is_word(t.peek().copied(), "unique") {
            t.next();
        }
        if !is_word(t.next(), "index") {
            continue;
        }
        if is_word(t.peek().copied(), "concurrently") {
            t.next();
        }
        let if_not_exists = is_word(t.peek().copied(), "if");
        if if_not_exists {
            t.next();
            t.next();
            t.next();
        }
        let Some(name) = t.next() else { continue };
        if is_word(Some(name), "on") {
            continue;
        }
        names.push(CreatedIndex {
            name: if name.quoted {
                name.text.replace("\"\"", "\"")
            } else {
                name.text.to_ascii_lowercase()
            },
            if_not_exists,
        });
    }
    names
}

/// True when the byte before `pos` continues an identifier, so an `E` at `pos` is part of a
/// word (`SOME'...'` is not an escape string, `E'...'` is).
fn is_ident_byte_before(bytes: &[u8], pos: usize) -> bool {
    pos > 0 && (bytes[pos - 1].is_ascii_alphanumeric() || bytes[pos - 1] == b'_')
}

fn skip_line_comment(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && bytes[i] != b'\n' {
        i += 1;
    }
    i
}

/// PostgreSQL block comments nest.
fn skip_block_comment(bytes: &[u8], mut i: usize) -> usize {
    let mut depth = 0usize;
    while i < bytes.len() {
        if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
            depth += 1;
            i += 2;
        } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    i
}

/// Skips a quoted string or identifier starting at `i`; a doubled quote is an escaped quote,
/// and in `E'...'` strings a backslash escapes the next byte.
fn skip_quoted(bytes: &[u8], mut i: usize, quote: u8, backslash_escapes: bool) -> usize {
    i += 1;
    while i < bytes.len() {
        if backslash_escapes && bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    i
}

/// Length of a dollar-quote tag (`$$` or `$tag$`) starting at `i`, if one starts there.
/// A `$` preceded by an identifier byte is part of a name or a parameter, not a quote.
fn dollar_tag_len(bytes: &[u8], i: usize) -> Option<usize> {
    if is_ident_byte_before(bytes, i) {
        return None;
    }
    let mut j = i + 1;
    while j < bytes.len() {
        let b = bytes[j];
        if b == b'$' {
            return Some(j - i + 1);
        }
        let valid =
            b.is_ascii_alphabetic() || b == b'_' || b >= 0x80 || (j > i + 1 && b.is_ascii_digit());
        if !valid {
            return None;
        }
        j += 1;
    }
    None
}

fn skip_dollar_quoted(bytes: &[u8], i: usize, tag_len: usize) -> usize {
    let tag = &bytes[i..i + tag_len];
    let mut j = i + tag_len;
    while j + tag_len <= bytes.len() {
        if &bytes[j..j + tag_len] == tag {
            return j + tag_len;
        }
        j += 1;
    }
    bytes.len()
}

/// The first code line of a statement (comments and blank lines skipped), cut to `max`
/// characters with an ellipsis: how plans, lock lines, rehearsal tables and errors name a
/// statement.
pub(crate) fn first_line(statement: &str, max: usize) -> String {
    let line = statement
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("--"))
        .unwrap_or_default();
    if line.chars().count() > max {
        format!("{}…", line.chars().take(max).collect::<String>())
    } else {
        line.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::{created_indexes, split_statements, transaction_control_statements};

    fn control(sql: &str) -> Vec<(usize, String)> {
        transaction_control_statements(sql)
            .into_iter()
            .map(|t| (t.line, t.keyword))
            .collect()
    }

    #[test]
    fn finds_transaction_control_with_its_line() {
        let sql = "CREATE TABLE a (id int);\n-- done with a\nCOMMIT;\nbegin;\nSTART TRANSACTION ISOLATION LEVEL SERIALIZABLE;\nSAVEPOINT s; RELEASE s;\nROLLBACK;\nABORT;\nEND;\nPREPARE TRANSACTION 'x';\nCOMMIT PREPARED 'x';";
        assert_eq!(
            control(sql),
            vec![
                (3, "COMMIT".to_string()),
                (4, "BEGIN".to_string()),
                (5, "START TRANSACTION".to_string()),
                (6, "SAVEPOINT".to_string()),
                (6, "RELEASE".to_string()),
                (7, "ROLLBACK".to_string()),
                (8, "ABORT".to_string()),
                (9, "END".to_string()),
                (10, "PREPARE TRANSACTION".to_string()),
                (11, "COMMIT PREPARED".to_string()),
            ]
        );
    }

    #[test]
    fn routine_bodies_are_not_transaction_control() {
        let sql = "DO $$\nBEGIN\n  PERFORM 1;\n  COMMIT;\nEND\n$$;\n\
                   CREATE PROCEDURE p() LANGUAGE plpgsql AS $body$ BEGIN COMMIT; ROLLBACK; END $body$;\n\
                   CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END;\n\
                   CREATE TABLE \"commit\" (\"begin\" int);\n\
                   PREPARE q AS SELECT 1;\n\
                   -- COMMIT;\n/* ROLLBACK; */ SELECT 'END;';";
        assert_eq!(control(sql), Vec::<(usize, String)>::new());
        // After a BEGIN ATOMIC body, a real COMMIT is still found.
        assert_eq!(
            control(
                "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END;\nCOMMIT;"
            ),
            vec![(2, "COMMIT".to_string())]
        );
    }

    #[test]
    fn index_names_of_create_index_statements() {
        let sql = "CREATE INDEX CONCURRENTLY Assets_IP_idx ON assets (ip);\n\
                   create unique index concurrently if not exists \"Odd\"\"Name\" ON t (x);\n\
                   CREATE INDEX ON t (y);\nCREATE TABLE x (id int);\n-- c\nCREATE UNIQUE INDEX u ON t (z);";
        let found: Vec<(String, bool)> = created_indexes(sql)
            .into_iter()
            .map(|c| (c.name, c.if_not_exists))
            .collect();
        assert_eq!(
            found,
            vec![
                ("assets_ip_idx".to_string(), false),
                ("Odd\"Name".to_string(), true),
                ("u".to_string(), false)
            ]
        );
    }

    #[test]
    fn splits_simple_statements() {
        assert_eq!(
            split_statements("CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n"),
            vec!["CREATE TABLE a (id int)", "CREATE TABLE b (id int)"]
        );
    }

    #[test]
    fn keeps_semicolons_in_strings_and_identifiers() {
        let sql = "INSERT INTO t VALUES ('a;b', 'it''s;');\nCREATE TABLE \"we;ird\" (x int);";
        assert_eq!(
            split_statements(sql),
            vec![
                "INSERT INTO t VALUES ('a;b', 'it''s;')",
                "CREATE TABLE \"we;ird\" (x int)"
            ]
        );
    }

    #[test]
    fn handles_escape_strings() {
        let sql = r"SELECT E'a\';b'; SELECT 2";
        assert_eq!(split_statements(sql), vec![r"SELECT E'a\';b'", "SELECT 2"]);
    }

    #[test]
    fn keeps_dollar_quoted_bodies_together() {
        let sql = "CREATE FUNCTION f() RETURNS trigger AS $body$\nBEGIN\n  NEW.x := 1; RETURN NEW;\nEND;\n$body$ LANGUAGE plpgsql;\nSELECT $$a;b$$;";
        let out = split_statements(sql);
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(out[0].ends_with("LANGUAGE plpgsql"));
        assert_eq!(out[1], "SELECT $$a;b$$");
    }

    #[test]
    fn ignores_semicolons_in_comments_and_drops_empty_statements() {
        let sql = "-- a; comment\nCREATE INDEX CONCURRENTLY i ON t (x); /* x; /* nested; */ y; */\n;\n-- trailing;\n";
        assert_eq!(
            split_statements(sql),
            vec!["-- a; comment\nCREATE INDEX CONCURRENTLY i ON t (x)"]
        );
    }

    #[test]
    fn positional_parameters_are_not_dollar_quotes() {
        let sql = "PREPARE p AS SELECT $1; SELECT 1";
        assert_eq!(
            split_statements(sql),
            vec!["PREPARE p AS SELECT $1", "SELECT 1"]
        );
    }

    #[test]
    fn last_statement_without_semicolon_is_kept() {
        assert_eq!(
            split_statements("SELECT 1;SELECT 2"),
            vec!["SELECT 1", "SELECT 2"]
        );
    }
}
