//! PostgreSQL's side: the one identifier quoter and the one formatter of server errors, so
//! both binaries (through the policy core's re-exports) quote and report the same way. It
//! sits below the error type, which formats failed bookkeeping queries with it.

use std::fmt::Write as _;

/// A double-quoted SQL identifier (`"a""b"` for `a"b`): safe for any table, column or
/// database name put into SQL text, where a bind parameter cannot go (DDL, `COPY`).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The fields of a server error both drivers can report; absent ones are left out.
#[derive(Debug, Default)]
struct ServerError<'a> {
    message: &'a str,
    sqlstate: Option<&'a str>,
    /// 1-based line and column in the statement text.
    at: Option<(usize, usize)>,
    column: Option<&'a str>,
    constraint: Option<&'a str>,
    detail: Option<&'a str>,
    where_: Option<&'a str>,
    hint: Option<&'a str>,
}

impl ServerError<'_> {
    fn render(&self) -> String {
        let mut s = self.message.to_owned();
        if let Some(code) = self.sqlstate {
            let _ = write!(s, " ({code})");
        }
        if let Some((line, col)) = self.at {
            let _ = write!(s, " (at line {line}, column {col})");
        }
        if let Some(c) = self.column {
            let _ = write!(s, "; column {c}");
        }
        if let Some(c) = self.constraint {
            let _ = write!(s, "; constraint {c}");
        }
        if let Some(d) = self.detail {
            let _ = write!(s, "; detail: {d}");
        }
        if let Some(w) = self.where_ {
            let _ = write!(s, "; where: {w}");
        }
        if let Some(h) = self.hint {
            let _ = write!(s, "; hint: {h}");
        }
        s
    }
}

/// A diesel error with PostgreSQL's message, detail and hint, and, when the statement text
/// is known, the line and column of the error position.
pub fn describe_db_error(error: &diesel::result::Error, sql: Option<&str>) -> String {
    match error {
        diesel::result::Error::DatabaseError(_, info) => ServerError {
            message: info.message(),
            at: info
                .statement_position()
                .zip(sql)
                .and_then(|(pos, sql)| line_col(sql, pos)),
            column: info.column_name(),
            constraint: info.constraint_name(),
            detail: info.details(),
            hint: info.hint(),
            ..ServerError::default()
        }
        .render(),
        other => other.to_string(),
    }
}

/// A driver error spelled out: tokio-postgres' `Display` is terse ("db error"), so this gives
/// the server's message, SQLSTATE, detail, hint and the column or constraint it names, or,
/// for a failure outside the server, the whole chain of causes.
pub fn describe_driver_error(e: &tokio_postgres::Error) -> String {
    let Some(db) = e.as_db_error() else {
        return cause_chain(e);
    };
    ServerError {
        message: db.message(),
        sqlstate: Some(db.code().code()),
        column: db.column(),
        constraint: db.constraint(),
        detail: db.detail(),
        where_: db.where_(),
        hint: db.hint(),
        ..ServerError::default()
    }
    .render()
}

/// An error and its causes, `: `-separated. tokio-postgres puts the useful part (e.g.
/// "Connection refused") in a source; a cause its parent already quotes is not repeated.
pub(crate) fn cause_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let c_text = c.to_string();
        if !text.contains(&c_text) {
            let _ = write!(text, ": {c_text}");
        }
        cause = c.source();
    }
    text
}

/// PostgreSQL positions are 1-based character offsets into the query string.
fn line_col(sql: &str, position: i32) -> Option<(usize, usize)> {
    let index = usize::try_from(position).ok()?.checked_sub(1)?;
    let mut line = 1;
    let mut col = 1;
    for (i, ch) in sql.chars().enumerate() {
        if i == index {
            return Some((line, col));
        }
        if ch == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let sql = "SELECT 1;\nSELEC 2;";
        assert_eq!(line_col(sql, 11), Some((2, 1)));
        assert_eq!(line_col(sql, 1), Some((1, 1)));
        assert_eq!(line_col(sql, 100), None);
    }

    #[test]
    fn identifiers_are_quoted_with_inner_quotes_doubled() {
        assert_eq!(quote_ident("users"), "\"users\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_ident("Mixed Case"), "\"Mixed Case\"");
    }

    #[test]
    fn fields_come_in_one_order() {
        let e = ServerError {
            message: "duplicate key value violates unique constraint \"u\"",
            sqlstate: Some("23505"),
            constraint: Some("u"),
            detail: Some("Key (id)=(1) already exists."),
            ..ServerError::default()
        };
        assert_eq!(
            e.render(),
            "duplicate key value violates unique constraint \"u\" (23505); constraint u; detail: Key (id)=(1) already exists."
        );
    }
}
