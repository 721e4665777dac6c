//! What a `down.sql` destroys: the tables and columns its `DROP TABLE`, `ALTER TABLE … DROP
//! [COLUMN]` and `TRUNCATE` statements remove, so a prod revert plan can show the data it
//! loses (with live row counts) before anyone confirms it. Statements come from the same
//! splitter the engine runs them with; anything else that drops (indexes, types, functions)
//! is listed as it is written.

use crate::split::split_statements;

/// One thing a revert removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dropped {
    /// `DROP TABLE name`: the table and every row in it.
    Table(String),
    /// `TRUNCATE name`: every row, the table stays.
    Emptied(String),
    /// `ALTER TABLE table DROP [COLUMN] column`: the column's values in every row.
    Column {
        /// The table, as written.
        table: String,
        /// The column, as written.
        column: String,
    },
    /// Any other `DROP …` statement (index, view, type, function…), its first line.
    Other(String),
}

/// Everything `sql` drops, in statement order. Names are kept as written (quotes, schema),
/// so they can be handed back to PostgreSQL.
pub fn dropped_by(sql: &str) -> Vec<Dropped> {
    let mut out = Vec::new();
    for statement in split_statements(sql) {
        let tokens = tokenize(&statement);
        let kw = |i: usize, word: &str| tokens.get(i).is_some_and(|t| t.is_keyword(word));
        if kw(0, "DROP") && kw(1, "TABLE") {
            let mut i = 2;
            if kw(i, "IF") && kw(i + 1, "EXISTS") {
                i += 2;
            }
            out.extend(name_list(&tokens[i.min(tokens.len())..]).map(Dropped::Table));
        } else if kw(0, "DROP") {
            let first = statement
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty() && !l.starts_with("--"))
                .unwrap_or_default();
            out.push(Dropped::Other(first.to_string()));
        } else if kw(0, "TRUNCATE") {
            let mut i = 1;
            if kw(i, "TABLE") {
                i += 1;
            }
            if kw(i, "ONLY") {
                i += 1;
            }
            out.extend(name_list(&tokens[i.min(tokens.len())..]).map(Dropped::Emptied));
        } else if kw(0, "ALTER") && kw(1, "TABLE") {
            let mut i = 2;
            if kw(i, "IF") && kw(i + 1, "EXISTS") {
                i += 2;
            }
            if kw(i, "ONLY") {
                i += 1;
            }
            let Some(Token::Word(table)) = tokens.get(i) else {
                continue;
            };
            for action in split_actions(&tokens[i + 1..]) {
                if let Some(column) = dropped_column(action) {
                    out.push(Dropped::Column {
                        table: table.clone(),
                        column,
                    });
                }
            }
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Punct(char),
    Literal,
}

impl Token {
    fn is_keyword(&self, word: &str) -> bool {
        matches!(self, Token::Word(w) if w.eq_ignore_ascii_case(word))
    }
}

/// Words (identifiers and keywords; a qualified or quoted name is one word), punctuation,
/// and string literals; comments are skipped.
fn tokenize(sql: &str) -> Vec<Token> {
    let chars: Vec<char> = sql.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                i += 1;
            }
            i += 2;
        } else if matches!(c, ',' | '(' | ')' | ';') {
            tokens.push(Token::Punct(c));
            i += 1;
        } else if c == '\'' {
            i += 1;
            while i < chars.len() {
                if chars[i] == '\'' && chars.get(i + 1) == Some(&'\'') {
                    i += 2;
                } else if chars[i] == '\'' {
                    break;
                } else {
                    i += 1;
                }
            }
            i += 1;
            tokens.push(Token::Literal);
        } else {
            let mut word = String::new();
            while i < chars.len() {
                let c = chars[i];
                if c == '"' {
                    word.push(c);
                    i += 1;
                    while i < chars.len() {
                        word.push(chars[i]);
                        if chars[i] == '"' && chars.get(i + 1) == Some(&'"') {
                            word.push('"');
                            i += 2;
                        } else if chars[i] == '"' {
                            i += 1;
                            break;
                        } else {
                            i += 1;
                        }
                    }
                } else if c.is_whitespace() || matches!(c, ',' | '(' | ')' | ';' | '\'') {
                    break;
                } else {
                    word.push(c);
                    i += 1;
                }
            }
            tokens.push(Token::Word(word));
        }
    }
    tokens
}

/// `a, b, c [CASCADE | RESTRICT]`.
fn name_list(tokens: &[Token]) -> impl Iterator<Item = String> + '_ {
    tokens
        .iter()
        .take_while(|t| !t.is_keyword("CASCADE") && !t.is_keyword("RESTRICT"))
        .filter_map(|t| match t {
            Token::Word(w) => Some(w.clone()),
            _ => None,
        })
}

/// The actions of an `ALTER TABLE`, split at top-level commas.
fn split_actions(tokens: &[Token]) -> Vec<&[Token]> {
    let mut actions = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, t) in tokens.iter().enumerate() {
        match t {
            Token::Punct('(') => depth += 1,
            Token::Punct(')') => depth = depth.saturating_sub(1),
            Token::Punct(',') if depth == 0 => {
                actions.push(&tokens[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    actions.push(&tokens[start..]);
    actions
}

/// `DROP [COLUMN] [IF EXISTS] name …` → the column; other DROP actions (CONSTRAINT,
/// DEFAULT, NOT NULL, IDENTITY, EXPRESSION) remove no data.
fn dropped_column(action: &[Token]) -> Option<String> {
    let kw = |i: usize, word: &str| action.get(i).is_some_and(|t| t.is_keyword(word));
    if !kw(0, "DROP") {
        return None;
    }
    let mut i = 1;
    if kw(i, "COLUMN") {
        i += 1;
    } else if ["CONSTRAINT", "DEFAULT", "NOT", "IDENTITY", "EXPRESSION"]
        .iter()
        .any(|w| kw(i, w))
    {
        return None;
    }
    if kw(i, "IF") && kw(i + 1, "EXISTS") {
        i += 2;
    }
    match action.get(i) {
        Some(Token::Word(w)) => Some(w.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(table: &str, column: &str) -> Dropped {
        Dropped::Column {
            table: table.into(),
            column: column.into(),
        }
    }

    #[test]
    fn finds_dropped_tables_and_columns() {
        let sql = "-- undo\nALTER TABLE accounts DROP COLUMN created_at;\nDROP TABLE engagements;\n\
                   DROP TABLE IF EXISTS a, public.\"B c\" CASCADE;\n\
                   alter table only x drop y, drop column if exists z, drop constraint x_fk, \
                   add column w int default (1), alter column v drop default;\n\
                   DROP INDEX CONCURRENTLY IF EXISTS engagements_account_idx;\n\
                   TRUNCATE TABLE logs;\n\
                   INSERT INTO t VALUES ('DROP TABLE fake');";
        assert_eq!(
            dropped_by(sql),
            vec![
                col("accounts", "created_at"),
                Dropped::Table("engagements".into()),
                Dropped::Table("a".into()),
                Dropped::Table("public.\"B c\"".into()),
                col("x", "y"),
                col("x", "z"),
                Dropped::Other("DROP INDEX CONCURRENTLY IF EXISTS engagements_account_idx".into()),
                Dropped::Emptied("logs".into()),
            ]
        );
    }

    #[test]
    fn comments_and_strings_are_not_statements() {
        assert_eq!(
            dropped_by("/* DROP TABLE a; */ SELECT 'DROP TABLE b'; -- DROP TABLE c"),
            vec![]
        );
    }
}
