//! What a stage writes, table by table, as rows `seed verify` and `seed --prune` compare the
//! tables with ([`Stage::expected`](super::stage::Stage::expected)). The rows come from the
//! same generators the stage's `run` writes, so the comparison cannot drift from the writes.
//!
//! Rows travel as [`BulkRow`]s (the COPY path's row trait): the comparison copies them into a
//! temporary table and lets PostgreSQL compare values by its own equality (jsonb normalised,
//! numerics at the column's scale), which no hash computed in Rust could match.

use crate::write::bulk::{BulkRow, BulkTable, Field};
use domain::models::{
    NewApiKey, NewClientAccount, NewDataImport, NewDiscoveryFlow, NewEngagement,
    NewSixrStrategyDefinition, NewTag, NewTechnologyCatalogEntry, NewUser, NewUserAccountRole,
};

/// The rows a stage writes into one of its tables.
pub struct Expected<'a> {
    /// Table in schema `public`.
    pub table: &'static str,
    /// Columns every row writes, in [`BulkRow::write`] order.
    pub columns: &'static [&'static str],
    /// The rows, generated lazily (tenant by tenant), so memory stays flat in `--scale`.
    pub rows: Box<dyn Iterator<Item = Box<dyn BulkRow>> + Send + 'a>,
}

impl<'a> Expected<'a> {
    /// The rows of a bulk-loaded table.
    pub fn bulk<R, I>(table: &BulkTable, rows: I) -> Expected<'a>
    where
        R: BulkRow,
        I: IntoIterator<Item = R> + 'a,
        I::IntoIter: Send,
    {
        Self::new(table.table, table.columns, rows)
    }

    /// The rows of `table`, writing `columns`.
    pub fn new<R, I>(table: &'static str, columns: &'static [&'static str], rows: I) -> Expected<'a>
    where
        R: BulkRow,
        I: IntoIterator<Item = R> + 'a,
        I::IntoIter: Send,
    {
        Expected {
            table,
            columns,
            rows: Box::new(
                rows.into_iter()
                    .map(|r| -> Box<dyn BulkRow> { Box::new(r) }),
            ),
        }
    }
}

/// `Columns` of an INSERT-path table: its name and the model's fields, as the COPY path needs.
pub struct Columns {
    pub table: &'static str,
    pub columns: &'static [&'static str],
}

macro_rules! copy_rows {
    ($($konst:ident: $model:ty => $table:literal [$($col:ident),+ $(,)?])+) => {$(
        #[doc = concat!("`", $table, "`: every field of the stage's insert model.")]
        pub const $konst: Columns = Columns {
            table: $table,
            columns: &[$(stringify!($col)),+],
        };
        impl BulkRow for $model {
            fn write<'a>(&'a self, out: &mut Vec<Field<'a>>) {
                out.extend([$(Field::from(&self.$col)),+]);
            }
        }
    )+};
}

copy_rows! {
    SIXR_STRATEGIES: NewSixrStrategyDefinition => "sixr_strategies" [
        id, strategy, name, description, typical_effort, typical_duration_weeks, display_order,
        created_at, updated_at,
    ]
    TECHNOLOGY_CATALOG: NewTechnologyCatalogEntry => "technology_catalog" [
        id, name, version, category, vendor, release_date, end_of_support,
        end_of_extended_support, created_at, updated_at,
    ]
    CLIENT_ACCOUNTS: NewClientAccount => "client_accounts" [
        id, slug, name, industry, company_size, headquarters_country, primary_contact_email,
        settings, is_active, created_at, updated_at,
    ]
    ENGAGEMENTS: NewEngagement => "engagements" [
        id, client_account_id, name, description, status, start_date, target_completion_date,
        created_at, updated_at,
    ]
    USERS: NewUser => "users" [
        id, external_id, email, full_name, password_hash, is_active, last_login_at, created_at,
        updated_at,
    ]
    USER_ACCOUNT_ROLES: NewUserAccountRole => "user_account_roles" [
        id, user_id, client_account_id, engagement_id, role, access_level, is_active,
        created_at, updated_at,
    ]
    TAGS: NewTag => "tags" [
        id, client_account_id, name, color, description, created_at, updated_at,
    ]
    API_KEYS: NewApiKey => "api_keys" [
        id, client_account_id, created_by_user_id, name, key_prefix, key_hash, permissions,
        expires_at, last_used_at, revoked_at, created_at, updated_at,
    ]
    DISCOVERY_FLOWS: NewDiscoveryFlow => "discovery_flows" [
        id, client_account_id, engagement_id, created_by_user_id, name, status, current_phase,
        progress_percent, flow_state, agent_insights, performance_metrics, error_details,
        started_at, completed_at, created_at, updated_at,
    ]
    DATA_IMPORTS: NewDataImport => "data_imports" [
        id, client_account_id, engagement_id, discovery_flow_id, imported_by_user_id,
        import_type, source_system, file_name, file_size_bytes, mime_type, status,
        total_records, processed_records, failed_records, error_message, started_at,
        completed_at, created_at, updated_at,
    ]
}

impl<'a> Expected<'a> {
    /// The rows of an INSERT-path table.
    pub fn insert<R, I>(cols: &Columns, rows: I) -> Expected<'a>
    where
        R: BulkRow,
        I: IntoIterator<Item = R> + 'a,
        I::IntoIter: Send,
    {
        Self::new(cols.table, cols.columns, rows)
    }
}
