//! Tenancy and identity: client accounts, engagements, users, roles, API keys, tags.

use crate::enums::{AccessLevel, UserRole};
use crate::schema::{api_keys, client_accounts, engagements, tags, user_account_roles, users};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// A tenant: one client organisation. Every tenant-owned row carries its id.
///
/// A row of `client_accounts` as read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable, Selectable, Identifiable)]
#[diesel(table_name = client_accounts, check_for_backend(diesel::pg::Pg))]
pub struct ClientAccount {
    /// Primary key (UUID; the seed derives it deterministically with UUIDv5).
    pub id: Uuid,
    /// URL-safe unique identifier (`^[a-z0-9]+(-[a-z0-9]+)*$`).
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Industry of the client.
    pub industry: Option<String>,
    /// One of `small`, `medium`, `large`, `enterprise`.
    pub company_size: Option<String>,
    /// Country of the headquarters.
    pub headquarters_country: Option<String>,
    /// E-mail address of the main contact.
    pub primary_contact_email: Option<String>,
    /// Tenant settings (JSON object).
    pub settings: Value,
    /// Whether the row is in use; inactive rows are kept for history.
    pub is_active: bool,
    /// When the row was created.
    pub created_at: DateTime<Utc>,
    /// When the row last changed (maintained by the `set_updated_at` trigger).
    pub updated_at: DateTime<Utc>,
}

/// A new row of `client_accounts`.
///
/// `created_at`/`updated_at` left `None` take the database default (`now()`);
/// the seed sets them from its `--as-of` date so that reruns are byte-identical.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Insertable)]
#[diesel(table_name = client_accounts, check_for_backend(diesel::pg::Pg))]
pub struct NewClientAccount {
    /// Primary key (UUID; the seed derives it deterministically with UUIDv5).
    pub id: Uuid,
    /// URL-safe unique identifier (`^[a-z0-9]+(-[a-z0-9]+)*$`).
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Industry of the client.
    pub industry: Option<String>,
    /// One of `small`, `medium`, `large`, `enterprise`.
    pub company_size: Option<String>,
    /// Country of the headquarters.
    pub headquarters_country: Option<String>,
    /// E-mail address of the main contact.
    pub primary_contact_email: Option<String>,
    /// Tenant settings (JSON object).
    pub settings: Value,
    /// Whether the row is in use; inactive rows are kept for history.
    pub is_active: bool,
    /// When the row was created.
    pub created_at: Option<DateTime<Utc>>,
    /// When the row last changed (maintained by the `set_updated_at` trigger).
    pub updated_at: Option<DateTime<Utc>>,
}

/// A migration project of one tenant; discovery, assets and waves belong to one.
///
/// A row of `engagements` as read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable, Selectable, Identifiable)]
#[diesel(table_name = engagements, primary_key(client_account_id, id), check_for_backend(diesel::pg::Pg))]
pub struct Engagement {
    /// Primary key (UUID; the seed derives it deterministically with UUIDv5).
    pub id: Uuid,
    /// The tenant that owns this row.
    pub client_account_id: Uuid,
    /// Display name.
    pub name: String,
    /// Free-text description.
    pub description: Option<String>,
    /// Lifecycle status.
    pub status: String,
    /// Planned or actual start.
    pub start_date: Option<NaiveDate>,
    /// Planned completion (not before `start_date`).
    pub target_completion_date: Option<NaiveDate>,
    /// When the row was created.
    pub created_at: DateTime<Utc>,
    /// When the row last changed (maintained by the `set_updated_at` trigger).
    pub updated_at: DateTime<Utc>,
}

/// A new row of `engagements`.
///
/// `created_at`/`updated_at` left `None` take the database default (`now()`);
/// the seed sets them from its `--as-of` date so that reruns are byte-identical.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Insertable)]
#[diesel(table_name = engagements, check_for_backend(diesel::pg::Pg))]
pub struct NewEngagement {
    /// Primary key (UUID; the seed derives it deterministically with UUIDv5).
    pub id: Uuid,
    /// The tenant that owns this row.
    pub client_account_id: Uuid,
    /// Display name.
    pub name: String,
    /// Free-text description.
    pub description: Option<String>,
    /// Lifecycle status.
    pub status: String,
    /// Planned or actual start.
    pub start_date: Option<NaiveDate>,
    /// Planned completion (not before `start_date`).
    pub target_completion_date: Option<NaiveDate>,
    /// When the row was created.
    pub created_at: Option<DateTime<Utc>>,
    /// When the row last changed (maintained by the `set_updated_at` trigger).
    pub updated_at: Option<DateTime<Utc>>,
}

/// A person who logs in (platform-wide identity); tenant access comes from user_account_roles.
///
/// A row of `users` as read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct User {
    /// Primary key (UUID; the seed derives it deterministically with UUIDv5).
    pub id: Uuid,
    /// Identity-provider subject, e.g. `auth0|64f1c2...`; unique.
    pub external_id: String,
    /// Lower-case e-mail address; unique.
    pub email: String,
    /// Full name.
    pub full_name: String,
    /// Optional local password as an argon2id PHC string; never plaintext.
    pub password_hash: Option<String>,
    /// Whether the row is in use; inactive rows are kept for history.
    pub is_active: bool,
    /// Last successful login.
    pub last_login_at: Option<DateTime<Utc>>,
    /// When the row was created.
    pub created_at: DateTime<Utc>,
    /// When the row last changed (maintained by the `set_updated_at` trigger).
    pub updated_at: DateTime<Utc>,
}

/// A new row of `users`.
///
/// `created_at`/`updated_at` left `None` take the database default (`now()`);
/// the seed sets them from its `--as-of` date so that reruns are byte-identical.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Insertable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct NewUser {
    /// Primary key (UUID; the seed derives it deterministically with UUIDv5).
    pub id: Uuid,
    /// Identity-provider subject, e.g. `auth0|64f1c2...`; unique.
    pub external_id: String,
    /// Lower-case e-mail address; unique.
    pub email: String,
    /// Full name.
    pub full_name: String,
    /// Optional local password as an argon2id PHC string; never plaintext.
    pub password_hash: Option<String>,
    /// Whether the row is in use; inactive rows are kept for history.
    pub is_active: bool,
    /// Last successful login.
    pub last_login_at: Option<DateTime<Utc>>,
    /// When the row was created.
    pub created_at: Option<DateTime<Utc>>,
    /// When the row last changed (maintained by the `set_updated_at` trigger).
    pub updated_at: Option<DateTime<Utc>>,
}

/// What a user may do in one tenant: role and access level.
///
/// A row of `user_account_roles` as read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable, Selectable, Identifiable)]
#[diesel(table_name = user_account_roles, primary_key(client_account_id, id), check_for_backend(diesel::pg::Pg))]
pub struct UserAccountRole {
    /// Primary key (UUID; the seed derives it deterministically with UUIDv5).
    pub id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// The tenant that owns this row.
    pub client_account_id: Uuid,
    /// The engagement this row belongs to (same tenant, enforced by a composite foreign key).
    pub engagement_id: Option<Uuid>,
    /// The role in this tenant.
    pub role: UserRole,
    /// The access level in this tenant.
    pub access_level: AccessLevel,
    /// Whether the row is in use; inactive rows are kept for history.
    pub is_active: bool,
    /// When the row was created.
    pub created_at: DateTime<Utc>,
    /// When the row last changed (maintained by the `set_updated_at` trigger).
    pub updated_at: DateTime<Utc>,
}

/// A new row of `user_account_roles`.
///
/// `created_at`/`updated_at` left `None` take the database default (`now()`);
/// the seed sets them from its `--as-of` date so that reruns are byte-identical.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Insertable)]
#[diesel(table_name = user_account_roles, check_for_backend(diesel::pg::Pg))]
pub struct NewUserAccountRole {
    /// Primary key (UUID; the seed derives it deterministically with UUIDv5).
    pub id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// The tenant that owns this row.
    pub client_account_id: Uuid,
    /// The engagement this row belongs to (same tenant, enforced by a composite foreign key).
    pub engagement_id: Option<Uuid>,
    /// The role in this tenant.
    pub role: UserRole,
    /// The access level in this tenant.
    pub access_level: AccessLevel,
    /// Whether the row is in use; inactive rows are kept for history.
    pub is_active: bool,
    /// When the row was created.
    pub created_at: Option<DateTime<Utc>>,
    /// When the row last changed (maintained by the `set_updated_at` trigger).
    pub updated_at: Option<DateTime<Utc>>,
}

/// Machine credentials of a tenant: lookup prefix + argon2id hash, never the key itself.
///
/// A row of `api_keys` as read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable, Selectable, Identifiable)]
#[diesel(table_name = api_keys, primary_key(client_account_id, id), check_for_backend(diesel::pg::Pg))]
pub struct ApiKey {
    /// Primary key (UUID; the seed derives it deterministically with UUIDv5).
    pub id: Uuid,
    /// The tenant that owns this row.
    pub client_account_id: Uuid,
    /// The user who created it, if known.
    pub created_by_user_id: Option<Uuid>,
    /// Display name.
    pub name: String,
    /// Public lookup prefix of the key, unique within the tenant.
    pub key_prefix: String,
    /// argon2id PHC string of the secret key; the key itself is never stored.
    pub key_hash: String,
    /// Granted permissions (JSON array, e.g. `["read","write","admin"]`).
    pub permissions: Value,
    /// When the key stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// Last successful authentication with this key.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When the key was revoked; a revoked key never authenticates.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When the row was created.
    pub created_at: DateTime<Utc>,
    /// When the row last changed (maintained by the `set_updated_at` trigger).
    pub updated_at: DateTime<Utc>,
}

/// A new row of `api_keys`.
///
/// `created_at`/`updated_at` left `None` take the database default (`now()`);
/// the seed sets them from its `--as-of` date so that reruns are byte-identical.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Insertable)]
#[diesel(table_name = api_keys, check_for_backend(diesel::pg::Pg))]
pub struct NewApiKey {
    /// Primary key (UUID; the seed derives it deterministically with UUIDv5).
    pub id: Uuid,
    /// The tenant that owns this row.
    pub client_account_id: Uuid,
    /// The user who created it, if known.
    pub created_by_user_id: Option<Uuid>,
    /// Display name.
    pub name: String,
    /// Public lookup prefix of the key, unique within the tenant.
    pub key_prefix: String,
    /// argon2id PHC string of the secret key; the key itself is never stored.
    pub key_hash: String,
    /// Granted permissions (JSON array, e.g. `["read","write","admin"]`).
    pub permissions: Value,
    /// When the key stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// Last successful authentication with this key.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When the key was revoked; a revoked key never authenticates.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When the row was created.
    pub created_at: Option<DateTime<Utc>>,
    /// When the row last changed (maintained by the `set_updated_at` trigger).
    pub updated_at: Option<DateTime<Utc>>,
}

/// Labels a tenant puts on its assets (pci, gdpr, tier-1, ...).
///
/// A row of `tags` as read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable, Selectable, Identifiable)]
#[diesel(table_name = tags, primary_key(client_account_id, id), check_for_backend(diesel::pg::Pg))]
pub struct Tag {
    /// Primary key (UUID; the seed derives it deterministically with UUIDv5).
    pub id: Uuid,
    /// The tenant that owns this row.
    pub client_account_id: Uuid,
    /// Display name.
    pub name: String,
    /// Display colour, `#rrggbb`.
    pub color: Option<String>,
    /// Free-text description.
    pub description: Option<String>,
    /// When the row was created.
    pub created_at: DateTime<Utc>,
    /// When the row last changed (maintained by the `set_updated_at` trigger).
    pub updated_at: DateTime<Utc>,
}

/// A new row of `tags`.
///
/// `created_at`/`updated_at` left `None` take the database default (`now()`);
/// the seed sets them from its `--as-of` date so that reruns are byte-identical.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Insertable)]
#[diesel(table_name = tags, check_for_backend(diesel::pg::Pg))]
pub struct NewTag {
    /// Primary key (UUID; the seed derives it deterministically with UUIDv5).
    pub id: Uuid,
    /// The tenant that owns this row.
    pub client_account_id: Uuid,
    /// Display name.
    pub name: String,
    /// Display colour, `#rrggbb`.
    pub color: Option<String>,
    /// Free-text description.
    pub description: Option<String>,
    /// When the row was created.
    pub created_at: Option<DateTime<Utc>>,
    /// When the row last changed (maintained by the `set_updated_at` trigger).
    pub updated_at: Option<DateTime<Utc>>,
}
