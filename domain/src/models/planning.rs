//! Assessments of assets and the migration waves that schedule them.

use crate::enums::{AssessmentType, CriticalityLevel, SixrStrategy, WaveStatus};
use crate::schema::{assessments, migration_waves, wave_assets};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// One assessment of one asset: score 0-100, risk level, findings and recommended 6R strategy.
///
/// A row of `assessments` as read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable, Selectable, Identifiable)]
#[diesel(table_name = assessments, primary_key(client_account_id, id), check_for_backend(diesel::pg::Pg))]
pub struct Assessment {
    /// Primary key (UUID; the seed derives it deterministically with UUIDv5).
    pub id: Uuid,
    /// The tenant that owns this row.
    pub client_account_id: Uuid,
    /// The asset.
    pub asset_id: Uuid,
    /// The user who assessed it, if known.
    pub assessed_by_user_id: Option<Uuid>,
    /// Kind of assessment.
    pub assessment_type: AssessmentType,
    /// Score, 0 to 100.
    pub score: i32,
    /// Risk level.
    pub risk_level: CriticalityLevel,
    /// Confidence, 0 to 1.
    pub confidence_score: f64,
    /// Recommended 6R strategy, if any.
    pub recommended_strategy: Option<SixrStrategy>,
    /// Short summary.
    pub summary: Option<String>,
    /// Findings (JSON array).
    pub findings: Value,
    /// When it was assessed.
    pub assessed_at: DateTime<Utc>,
    /// When the row was created.
    pub created_at: DateTime<Utc>,
    /// When the row last changed (maintained by the `set_updated_at` trigger).
    pub updated_at: DateTime<Utc>,
}

/// A new row of `assessments`.
///
/// `created_at`/`updated_at` left `None` take the database default (`now()`);
/// the seed sets them from its `--as-of` date so that reruns are byte-identical.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Insertable)]
#[diesel(table_name = assessments, check_for_backend(diesel::pg::Pg))]
pub struct NewAssessment {
    /// Primary key (UUID; the seed derives it deterministically with UUIDv5).
    pub id: Uuid,
    /// The tenant that owns this row.
    pub client_account_id: Uuid,
    /// The asset.
    pub asset_id: Uuid,
    /// The user who assessed it, if known.
    pub assessed_by_user_id: Option<Uuid>,
    /// Kind of assessment.
    pub assessment_type: AssessmentType,
    /// Score, 0 to 100.
    pub score: i32,
    /// Risk level.
    pub risk_level: CriticalityLevel,
    /// Confidence, 0 to 1.
    pub confidence_score: f64,
    /// Recommended 6R strategy, if any.
    pub recommended_strategy: Option<SixrStrategy>,
    /// Short summary.
    pub summary: Option<String>,
    /// Findings (JSON array).
    pub findings: Value,
    /// When it was assessed.
    pub assessed_at: DateTime<Utc>,
    /// When the row was created.
    pub created_at: Option<DateTime<Utc>>,
    /// When the row last changed (maintained by the `set_updated_at` trigger).
    pub updated_at: Option<DateTime<Utc>>,
}

/// A scheduled batch of assets to migrate together; wave numbers order them (pilot first).
///
/// A row of `migration_waves` as read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable, Selectable, Identifiable)]
#[diesel(table_name = migration_waves, primary_key(client_account_id, id), check_for_backend(diesel::pg::Pg))]
pub struct MigrationWave {
    /// Primary key (UUID; the seed derives it deterministically with UUIDv5).
    pub id: Uuid,
    /// The tenant that owns this row.
    pub client_account_id: Uuid,
    /// The engagement this row belongs to (same tenant, enforced by a composite foreign key).
    pub engagement_id: Uuid,
    /// Order of the wave in the engagement, from 0 (unique per engagement).
    pub wave_number: i32,
    /// Display name.
    pub name: String,
    /// Free-text description.
    pub description: Option<String>,
    /// Lifecycle status.
    pub status: WaveStatus,
    /// Whether this is the pilot wave.
    pub is_pilot: bool,
    /// Planned start.
    pub planned_start_date: NaiveDate,
    /// Planned end (not before the start).
    pub planned_end_date: NaiveDate,
    /// Actual start.
    pub actual_start_date: Option<NaiveDate>,
    /// Actual end.
    pub actual_end_date: Option<NaiveDate>,
    /// When the row was created.
    pub created_at: DateTime<Utc>,
    /// When the row last changed (maintained by the `set_updated_at` trigger).
    pub updated_at: DateTime<Utc>,
}

/// A new row of `migration_waves`.
///
/// `created_at`/`updated_at` left `None` take the database default (`now()`);
/// the seed sets them from its `--as-of` date so that reruns are byte-identical.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Insertable)]
#[diesel(table_name = migration_waves, check_for_backend(diesel::pg::Pg))]
pub struct NewMigrationWave {
    /// Primary key (UUID; the seed derives it deterministically with UUIDv5).
    pub id: Uuid,
    /// The tenant that owns this row.
    pub client_account_id: Uuid,
    /// The engagement this row belongs to (same tenant, enforced by a composite foreign key).
    pub engagement_id: Uuid,
    /// Order of the wave in the engagement, from 0 (unique per engagement).
    pub wave_number: i32,
    /// Display name.
    pub name: String,
    /// Free-text description.
    pub description: Option<String>,
    /// Lifecycle status.
    pub status: WaveStatus,
    /// Whether this is the pilot wave.
    pub is_pilot: bool,
    /// Planned start.
    pub planned_start_date: NaiveDate,
    /// Planned end (not before the start).
    pub planned_end_date: NaiveDate,
    /// Actual start.
    pub actual_start_date: Option<NaiveDate>,
    /// Actual end.
    pub actual_end_date: Option<NaiveDate>,
    /// When the row was created.
    pub created_at: Option<DateTime<Utc>>,
    /// When the row last changed (maintained by the `set_updated_at` trigger).
    pub updated_at: Option<DateTime<Utc>>,
}

/// Assignment of an asset to its migration wave, with the strategy used.
///
/// A row of `wave_assets` as read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable, Selectable, Identifiable)]
#[diesel(table_name = wave_assets, primary_key(client_account_id, id), check_for_backend(diesel::pg::Pg))]
pub struct WaveAsset {
    /// Primary key (UUID; the seed derives it deterministically with UUIDv5).
    pub id: Uuid,
    /// The tenant that owns this row.
    pub client_account_id: Uuid,
    /// The wave.
    pub wave_id: Uuid,
    /// The asset.
    pub asset_id: Uuid,
    /// The 6R strategy.
    pub strategy: SixrStrategy,
    /// Order within the wave.
    pub sequence_order: i32,
    /// When the row was created.
    pub created_at: DateTime<Utc>,
    /// When the row last changed (maintained by the `set_updated_at` trigger).
    pub updated_at: DateTime<Utc>,
}

/// A new row of `wave_assets`.
///
/// `created_at`/`updated_at` left `None` take the database default (`now()`);
/// the seed sets them from its `--as-of` date so that reruns are byte-identical.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Insertable)]
#[diesel(table_name = wave_assets, check_for_backend(diesel::pg::Pg))]
pub struct NewWaveAsset {
    /// Primary key (UUID; the seed derives it deterministically with UUIDv5).
    pub id: Uuid,
    /// The tenant that owns this row.
    pub client_account_id: Uuid,
    /// The wave.
    pub wave_id: Uuid,
    /// The asset.
    pub asset_id: Uuid,
    /// The 6R strategy.
    pub strategy: SixrStrategy,
    /// Order within the wave.
    pub sequence_order: i32,
    /// When the row was created.
    pub created_at: Option<DateTime<Utc>>,
    /// When the row last changed (maintained by the `set_updated_at` trigger).
    pub updated_at: Option<DateTime<Utc>>,
}
