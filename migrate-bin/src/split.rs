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

#[cfg(test)]
mod tests {
    use super::split_statements;

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
