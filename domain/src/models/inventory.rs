//! The asset inventory: assets, their tags and the dependency graph.

use crate::enums::{AssetType, CriticalityLevel};
use crate::schema::{asset_dependencies, asset_tags, assets};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// One application, server, database or network device of an engagement.
///
/// A row of `assets` as read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable, Selectable, Identifiable)]
#[diesel(table_name = assets, primary_key(client_account_id, id), check_for_backend(diesel::pg::Pg))]
pub struct Asset {
    /// Primary key (UUID; the seed derives it deterministically with UUIDv5).
    pub id: Uuid,
    /// The tenant that owns this row.
    pub client_account_id: Uuid,
    /// The engagement this row belongs to (same tenant, enforced by a composite foreign key).
    pub engagement_id: Uuid,
    /// The discovery flow that produced it, if any.
    pub discovery_flow_id: Option<Uuid>,
    /// The catalogue entry of its main technology, if known.
    pub technology_id: Option<Uuid>,
    /// Display name.
    pub name: String,
    /// Kind of asset.
    pub asset_type: AssetType,
    /// Lower-case host name, if it has one.
    pub hostname: Option<String>,
    /// Primary IP address.
    pub ip_address: Option<IpNet>,
    /// Operating system family or product.
    pub operating_system: Option<String>,
    /// Operating system version.
    pub os_version: Option<String>,
    /// Main technology, e.g. `Java 11`.
    pub technology: Option<String>,
    /// One of `production`, `staging`, `test`, `development`, `disaster_recovery`.
    pub environment: String,
    /// CPU cores (non-negative).
    pub cpu_cores: Option<i32>,
    /// Memory in GB (non-negative).
    pub memory_gb: Option<f64>,
    /// Storage in GB (non-negative).
    pub storage_gb: Option<f64>,
    /// Accountable business owner.
    pub business_owner: Option<String>,
    /// Responsible technical owner.
    pub technical_owner: Option<String>,
    /// Business criticality.
    pub criticality: CriticalityLevel,
    /// Free-text description.
    pub description: Option<String>,
    /// Further attributes (JSON object).
    pub custom_attributes: Value,
    /// When the row was created.
    pub created_at: DateTime<Utc>,
    /// When the row last changed (maintained by the `set_updated_at` trigger).
    pub updated_at: DateTime<Utc>,
}

/// A new row of `assets`.
///
/// `created_at`/`updated_at` left `None` take the database default (`now()`);
/// the seed sets them from its `--as-of` date so that reruns are byte-identical.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Insertable)]
#[diesel(table_name = assets, check_for_backend(diesel::pg::Pg))]
pub struct NewAsset {
    /// Primary key (UUID; the seed derives it deterministically with UUIDv5).
    pub id: Uuid,
    /// The tenant that owns this row.
    pub client_account_id: Uuid,
    /// The engagement this row belongs to (same tenant, enforced by a composite foreign key).
    pub engagement_id: Uuid,
    /// The discovery flow that produced it, if any.
    pub discovery_flow_id: Option<Uuid>,
    /// The catalogue entry of its main technology, if known.
    pub technology_id: Option<Uuid>,
    /// Display name.
    pub name: String,
    /// Kind of asset.
    pub asset_type: AssetType,
    /// Lower-case host name, if it has one.
    pub hostname: Option<String>,
    /// Primary IP address.
    pub ip_address: Option<IpNet>,
    /// Operating system family or product.
    pub operating_system: Option<String>,
    /// Operating system version.
    pub os_version: Option<String>,
    /// Main technology, e.g. `Java 11`.
    pub technology: Option<String>,
    /// One of `production`, `staging`, `test`, `development`, `disaster_recovery`.
    pub environment: String,
    /// CPU cores (non-negative).
    pub cpu_cores: Option<i32>,
    /// Memory in GB (non-negative).
    pub memory_gb: Option<f64>,
    /// Storage in GB (non-negative).
    pub storage_gb: Option<f64>,
    /// Accountable business owner.
    pub business_owner: Option<String>,
    /// Responsible technical owner.
    pub technical_owner: Option<String>,
    /// Business criticality.
    pub criticality: CriticalityLevel,
    /// Free-text description.
    pub description: Option<String>,
    /// Further attributes (JSON object).
    pub custom_attributes: Value,
    /// When the row was created.
    pub created_at: Option<DateTime<Utc>>,
    /// When the row last changed (maintained by the `set_updated_at` trigger).
    pub updated_at: Option<DateTime<Utc>>,
}

/// Which tags an asset carries.
///
/// A row of `asset_tags` as read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable, Selectable, Identifiable)]
#[diesel(table_name = asset_tags, primary_key(client_account_id, id), check_for_backend(diesel::pg::Pg))]
pub struct AssetTag {
    /// Primary key (UUID; the seed derives it deterministically with UUIDv5).
    pub id: Uuid,
    /// The tenant that owns this row.
    pub client_account_id: Uuid,
    /// The asset.
    pub asset_id: Uuid,
    /// The tag.
    pub tag_id: Uuid,
    /// When the row was created.
    pub created_at: DateTime<Utc>,
    /// When the row last changed (maintained by the `set_updated_at` trigger).
    pub updated_at: DateTime<Utc>,
}

/// A new row of `asset_tags`.
///
/// `created_at`/`updated_at` left `None` take the database default (`now()`);
/// the seed sets them from its `--as-of` date so that reruns are byte-identical.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Insertable)]
#[diesel(table_name = asset_tags, check_for_backend(diesel::pg::Pg))]
pub struct NewAssetTag {
    /// Primary key (UUID; the seed derives it deterministically with UUIDv5).
    pub id: Uuid,
    /// The tenant that owns this row.
    pub client_account_id: Uuid,
    /// The asset.
    pub asset_id: Uuid,
    /// The tag.
    pub tag_id: Uuid,
    /// When the row was created.
    pub created_at: Option<DateTime<Utc>>,
    /// When the row last changed (maintained by the `set_updated_at` trigger).
    pub updated_at: Option<DateTime<Utc>>,
}

/// Directed edge "source depends on target"; cycles are allowed, self-edges are not.
///
/// A row of `asset_dependencies` as read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable, Selectable, Identifiable)]
#[diesel(table_name = asset_dependencies, primary_key(client_account_id, id), check_for_backend(diesel::pg::Pg))]
pub struct AssetDependency {
    /// Primary key (UUID; the seed derives it deterministically with UUIDv5).
    pub id: Uuid,
    /// The tenant that owns this row.
    pub client_account_id: Uuid,
    /// The asset that depends on `target_asset_id`.
    pub source_asset_id: Uuid,
    /// The asset depended on (never `source_asset_id`).
    pub target_asset_id: Uuid,
    /// One of `runtime`, `data`, `network`, `hosting`, `integration`, `authentication`, `storage`.
    pub dependency_type: String,
    /// Network protocol, e.g. `tcp`, `https`.
    pub protocol: Option<String>,
    /// Port, 1 to 65535.
    pub port: Option<i32>,
    /// Confidence, 0 to 1.
    pub confidence_score: f64,
    /// Whether the dependency is critical for the source.
    pub is_critical: bool,
    /// Free-text description.
    pub description: Option<String>,
    /// When the row was created.
    pub created_at: DateTime<Utc>,
    /// When the row last changed (maintained by the `set_updated_at` trigger).
    pub updated_at: DateTime<Utc>,
}

/// A new row of `asset_dependencies`.
///
/// `created_at`/`updated_at` left `None` take the database default (`now()`);
/// the seed sets them from its `--as-of` date so that reruns are byte-identical.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Insertable)]
#[diesel(table_name = asset_dependencies, check_for_backend(diesel::pg::Pg))]
pub struct NewAssetDependency {
    /// Primary key (UUID; the seed derives it deterministically with UUIDv5).
    pub id: Uuid,
    /// The tenant that owns this row.
    pub client_account_id: Uuid,
    /// The asset that depends on `target_asset_id`.
    pub source_asset_id: Uuid,
    /// The asset depended on (never `source_asset_id`).
    pub target_asset_id: Uuid,
    /// One of `runtime`, `data`, `network`, `hosting`, `integration`, `authentication`, `storage`.
    pub dependency_type: String,
    /// Network protocol, e.g. `tcp`, `https`.
    pub protocol: Option<String>,
    /// Port, 1 to 65535.
    pub port: Option<i32>,
    /// Confidence, 0 to 1.
    pub confidence_score: f64,
    /// Whether the dependency is critical for the source.
    pub is_critical: bool,
    /// Free-text description.
    pub description: Option<String>,
    /// When the row was created.
    pub created_at: Option<DateTime<Utc>>,
    /// When the row last changed (maintained by the `set_updated_at` trigger).
    pub updated_at: Option<DateTime<Utc>>,
}
