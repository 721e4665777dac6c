//! The core data file (tenants, engagements, users, roles, tags): loading and validation.
//!
//! The file is validated completely before any connection is opened, so a bad file never
//! leaves half-written data. Errors carry the file, line, column and field.

use crate::error::{Result, SeedError};
use serde::Deserialize;
use std::collections::HashSet;
use std::ops::Range;
use std::path::Path;
use toml::Spanned;

/// The embedded core data.
pub const EMBEDDED_CORE: &str = include_str!("../data/core.toml");
/// File name looked up in `--data-dir`.
pub const CORE_FILE: &str = "core.toml";

/// User roles the application knows (the `user_role` enum).
pub const ROLES: &[&str] = &[
    "ENGAGEMENT_MANAGER",
    "ANALYST",
    "VIEWER",
    "CLIENT_ADMIN",
    "PLATFORM_ADMIN",
];
/// Company sizes the schema accepts.
pub const COMPANY_SIZES: &[&str] = &["small", "medium", "large", "enterprise"];
/// Access levels (the `access_level` enum).
pub const ACCESS_LEVELS: &[&str] = &["READ_ONLY", "READ_WRITE", "ADMIN"];

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoreFile {
    pub accounts: Vec<Account>,
    pub users: Vec<User>,
    pub tags: Vec<Tag>,
}

/// A tenant.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub slug: Spanned<String>,
    pub name: String,
    pub industry: String,
    pub company_size: Spanned<String>,
    pub headquarters_country: String,
    pub engagements: Vec<String>,
}

/// A user of one tenant.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub email: Spanned<String>,
    pub name: String,
    pub account: Spanned<String>,
    pub role: Spanned<String>,
    pub access: Spanned<String>,
    pub idp_id: Spanned<String>,
}

/// A tag every tenant gets.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tag {
    pub name: Spanned<String>,
    pub color: String,
    pub description: String,
}

/// Validated core data with its fingerprint (for the ledger).
#[derive(Debug, Clone)]
pub struct CoreData {
    pub file: CoreFile,
    pub fingerprint: String,
}

impl CoreData {
    /// The account of the main demo tenant (the first one in the file).
    pub fn main_account(&self) -> &Account {
        &self.file.accounts[0]
    }
}

/// Loads the embedded file, or `DIR/core.toml` when `data_dir` is given.
pub fn load(data_dir: Option<&Path>) -> Result<CoreData> {
    match data_dir {
        None => parse(EMBEDDED_CORE, Path::new("<embedded>/core.toml")),
        Some(dir) => {
            let path = dir.join(CORE_FILE);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                SeedError::Usage(format!(
                    "cannot read the core data file {}: {e}. --data-dir must name a folder holding {CORE_FILE}.",
                    path.display()
                ))
            })?;
            parse(&text, &path)
        }
    }
}

/// Parses and validates core data text.
pub fn parse(text: &str, source: &Path) -> Result<CoreData> {
    let file: CoreFile = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let field = field_at(text, &span, e.message());
        data_error(text, source, &span, &field, e.message().trim())
    })?;
    validate(&file, text, source)?;
    use sha2::Digest;
    let fingerprint = hex::encode(sha2::Sha256::digest(text.as_bytes()));
    Ok(CoreData { file, fingerprint })
}

fn validate(file: &CoreFile, text: &str, source: &Path) -> Result<()> {
    let err = |s: Range<usize>, field: &str, msg: String| data_error(text, source, &s, field, &msg);
    if file.accounts.is_empty() {
        return Err(err(
            0..0,
            "accounts",
            "at least one account is needed (the first is the main demo tenant)".into(),
        ));
    }
    let mut slugs = HashSet::new();
    for a in &file.accounts {
        let slug = a.slug.get_ref();
        if slug.is_empty()
            || !slug
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(err(
                a.slug.span(),
                "slug",
                format!("`{slug}` must be lower-case letters, digits and dashes"),
            ));
        }
        if !slugs.insert(slug.clone()) {
            return Err(err(
                a.slug.span(),
                "slug",
                format!("duplicate account slug `{slug}`"),
            ));
        }
        if !COMPANY_SIZES.contains(&a.company_size.get_ref().as_str()) {
            return Err(err(
                a.company_size.span(),
                "company_size",
                format!(
                    "unknown company size `{}`; valid: {}",
                    a.company_size.get_ref(),
                    COMPANY_SIZES.join(", ")
                ),
            ));
        }
        if a.engagements.is_empty() {
            return Err(err(
                a.slug.span(),
                "engagements",
                format!("account `{slug}` needs at least one engagement"),
            ));
        }
    }
    let mut emails = HashSet::new();
    for u in &file.users {
        let email = u.email.get_ref();
        if !email.contains('@') {
            return Err(err(
                u.email.span(),
                "email",
                format!("`{email}` is not an email address"),
            ));
        }
        if !emails.insert(email.to_ascii_lowercase()) {
            return Err(err(
                u.email.span(),
                "email",
                format!("duplicate email `{email}`"),
            ));
        }
        if !slugs.contains(u.account.get_ref()) {
            return Err(err(
                u.account.span(),
                "account",
                format!(
                    "unknown account `{}`; known: {}",
                    u.account.get_ref(),
                    sorted(&slugs)
                ),
            ));
        }
        if !ROLES.contains(&u.role.get_ref().as_str()) {
            return Err(err(
                u.role.span(),
                "role",
                format!(
                    "unknown role `{}`; valid roles: {}",
                    u.role.get_ref(),
                    ROLES.join(", ")
                ),
            ));
        }
        if !ACCESS_LEVELS.contains(&u.access.get_ref().as_str()) {
            return Err(err(
                u.access.span(),
                "access",
                format!(
                    "unknown access level `{}`; valid: {}",
                    u.access.get_ref(),
                    ACCESS_LEVELS.join(", ")
                ),
            ));
        }
        if !u.idp_id.get_ref().starts_with("auth0|") {
            return Err(err(
                u.idp_id.span(),
                "idp_id",
                format!(
                    "`{}` must be an identity-provider id of the form `auth0|...`",
                    u.idp_id.get_ref()
                ),
            ));
        }
    }
    let mut tags = HashSet::new();
    for t in &file.tags {
        if !tags.insert(t.name.get_ref().clone()) {
            return Err(err(
                t.name.span(),
                "name",
                format!("duplicate tag `{}`", t.name.get_ref()),
            ));
        }
    }
    Ok(())
}

fn sorted(set: &HashSet<String>) -> String {
    let mut v: Vec<_> = set.iter().map(String::as_str).collect();
    v.sort_unstable();
    v.join(", ")
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
    (line, column)
}

/// Best guess of the field a toml error points at: the quoted name in the message, else the key
/// on the error's line.
fn field_at(text: &str, span: &Range<usize>, message: &str) -> String {
    if let Some(rest) = message.split("unknown field `").nth(1)
        && let Some(name) = rest.split('`').next()
    {
        return name.to_string();
    }
    if let Some(rest) = message.split("missing field `").nth(1)
        && let Some(name) = rest.split('`').next()
    {
        return name.to_string();
    }
    let start = text[..span.start.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let line = text[start..].lines().next().unwrap_or("");
    match line.split_once('=') {
        Some((key, _)) => key.trim().to_string(),
        None => line.trim().trim_matches(['[', ']']).to_string(),
    }
}

fn data_error(
    text: &str,
    source: &Path,
    span: &Range<usize>,
    field: &str,
    message: &str,
) -> SeedError {
    let (line, column) = line_col(text, span.start);
    SeedError::DataFile {
        file: source.to_path_buf(),
        line,
        column,
        field: field.to_string(),
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail(text: &str) -> (usize, String, String) {
        match parse(text, Path::new("core.toml")) {
            Err(SeedError::DataFile {
                line,
                field,
                message,
                ..
            }) => (line, field, message),
            other => panic!("expected a data-file error, got {other:?}"),
        }
    }

    #[test]
    fn embedded_file_is_valid() {
        let core = load(None).unwrap();
        assert_eq!(core.main_account().slug.get_ref(), "democorp");
        assert_eq!(core.file.accounts.len(), 3);
    }

    #[test]
    fn unknown_field_names_line_and_field() {
        let text = EMBEDDED_CORE.replacen(
            "industry = \"Retail\"",
            "industry = \"Retail\"\ncolour = 1",
            1,
        );
        let (line, field, _) = fail(&text);
        assert_eq!(field, "colour");
        assert_eq!(text.lines().nth(line - 1).unwrap().trim(), "colour = 1");
    }

    #[test]
    fn wrong_type_names_field() {
        let text = EMBEDDED_CORE.replacen("name = \"Dana Demo\"", "name = 7", 1);
        let (line, field, _) = fail(&text);
        assert_eq!(field, "name");
        assert_eq!(text.lines().nth(line - 1).unwrap().trim(), "name = 7");
    }

    #[test]
    fn duplicate_email_and_unknown_role() {
        let text = EMBEDDED_CORE.replacen("analyst@democorp.com", "demo@democorp.com", 1);
        let (_, field, msg) = fail(&text);
        assert_eq!(field, "email");
        assert!(msg.contains("duplicate"));
        let text = EMBEDDED_CORE.replacen("role = \"ANALYST\"", "role = \"WIZARD\"", 1);
        let (line, field, _) = fail(&text);
        assert_eq!(field, "role");
        assert!(text.lines().nth(line - 1).unwrap().contains("WIZARD"));
    }
}
