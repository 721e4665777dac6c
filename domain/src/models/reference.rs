//! Reference data shared by every tenant: the 6R strategies and the technology catalogue.

use crate::enums::SixrStrategy;
use crate::schema::{sixr_strategies, technology_catalog};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The 6R migration strategies with their description and typical effort.
///
/// A row of `sixr_strategies` as read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable, Selectable, Identifiable)]
#[diesel(table_name = sixr_strategies, check_for_backend(diesel::pg::Pg))]
pub struct SixrStrategyDefinition {
    /// Primary key (UUID; the seed derives it deterministically with UUIDv5).
    pub id: Uuid,
    /// The 6R strategy.
    pub strategy: SixrStrategy,
    /// Display name.
    pub name: String,
    /// Free-text description.
    pub description: String,
    /// One of `none`, `low`, `medium`, `high`, `very_high`.
    pub typical_effort: String,
    /// Typical duration in weeks.
    pub typical_duration_weeks: Option<i32>,
    /// Position in lists (unique).
    pub display_order: i32,
    /// When the row was created.
    pub created_at: DateTime<Utc>,
    /// When the row last changed (maintained by the `set_updated_at` trigger).
    pub updated_at: DateTime<Utc>,
}

/// A new row of `sixr_strategies`.
///
/// `created_at`/`updated_at` left `None` take the database default (`now()`);
/// the seed sets them from its `--as-of` date so that reruns are byte-identical.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Insertable)]
#[diesel(table_name = sixr_strategies, check_for_backend(diesel::pg::Pg))]
pub struct NewSixrStrategyDefinition {
    /// Primary key (UUID; the seed derives it deterministically with UUIDv5).
    pub id: Uuid,
    /// The 6R strategy.
    pub strategy: SixrStrategy,
    /// Display name.
    pub name: String,
    /// Free-text description.
    pub description: String,
    /// One of `none`, `low`, `medium`, `high`, `very_high`.
    pub typical_effort: String,
    /// Typical duration in weeks.
    pub typical_duration_weeks: Option<i32>,
    /// Position in lists (unique).
    pub display_order: i32,
    /// When the row was created.
    pub created_at: Option<DateTime<Utc>>,
    /// When the row last changed (maintained by the `set_updated_at` trigger).
    pub updated_at: Option<DateTime<Utc>>,
}

/// Known technologies (languages, runtimes, OSes, database engines) with vendor and support dates.
///
/// A row of `technology_catalog` as read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable, Selectable, Identifiable)]
#[diesel(table_name = technology_catalog, check_for_backend(diesel::pg::Pg))]
pub struct TechnologyCatalogEntry {
    /// Primary key (UUID; the seed derives it deterministically with UUIDv5).
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// Version string (part of the natural key with `name`).
    pub version: String,
    /// One of `language`, `runtime`, `framework`, `operating_system`, `database`, `middleware`, `network`, `other`.
    pub category: String,
    /// Vendor or maintainer.
    pub vendor: String,
    /// Release date.
    pub release_date: Option<NaiveDate>,
    /// End of mainstream support.
    pub end_of_support: Option<NaiveDate>,
    /// End of extended support.
    pub end_of_extended_support: Option<NaiveDate>,
    /// When the row was created.
    pub created_at: DateTime<Utc>,
    /// When the row last changed (maintained by the `set_updated_at` trigger).
    pub updated_at: DateTime<Utc>,
}

/// A new row of `technology_catalog`.
///
/// `created_at`/`updated_at` left `None` take the database default (`now()`);
/// the seed sets them from its `--as-of` date so that reruns are byte-identical.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Insertable)]
#[diesel(table_name = technology_catalog, check_for_backend(diesel::pg::Pg))]
pub struct NewTechnologyCatalogEntry {
    /// Primary key (UUID; the seed derives it deterministically with UUIDv5).
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// Version string (part of the natural key with `name`).
    pub version: String,
    /// One of `language`, `runtime`, `framework`, `operating_system`, `database`, `middleware`, `network`, `other`.
    pub category: String,
    /// Vendor or maintainer.
    pub vendor: String,
    /// Release date.
    pub release_date: Option<NaiveDate>,
    /// End of mainstream support.
    pub end_of_support: Option<NaiveDate>,
    /// End of extended support.
    pub end_of_extended_support: Option<NaiveDate>,
    /// When the row was created.
    pub created_at: Option<DateTime<Utc>>,
    /// When the row last changed (maintained by the `set_updated_at` trigger).
    pub updated_at: Option<DateTime<Utc>>,
}
