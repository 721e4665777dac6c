//! The seed ledger (`groundwork.seed_ledger`): one row per stage run that did something.

use crate::dataset::stage_id;
use crate::error::{Result, SeedError};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

diesel::table! {
    groundwork.seed_ledger (id) {
        id -> BigInt,
        stage -> Text,
        stage_version -> Integer,
        input_hash -> Text,
        params -> Jsonb,
        fingerprint -> Nullable<Text>,
        table_state -> Nullable<Text>,
        counts -> Jsonb,
        duration_ms -> BigInt,
        status -> Text,
        error -> Nullable<Text>,
        started_at -> Timestamptz,
        finished_at -> Timestamptz,
        key_undelivered -> Bool,
    }
}

/// Bookkeeping lives in schema `groundwork`, never in `public`.
const CREATE: &str = "
CREATE SCHEMA IF NOT EXISTS groundwork;
CREATE TABLE IF NOT EXISTS groundwork.seed_ledger (
    id            bigserial PRIMARY KEY,
    stage         text        NOT NULL,
    stage_version integer     NOT NULL,
    input_hash    text        NOT NULL,
    params        jsonb       NOT NULL,
    fingerprint   text,
    table_state   text,
    counts        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    duration_ms   bigint      NOT NULL,
    status        text        NOT NULL CHECK (status IN ('succeeded', 'failed')),
    error         text,
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz NOT NULL,
    -- True from the commit of a stage run that created an API key until the key was shown
    -- (and written with --write-env): a run killed in between leaves it true, and the next
    -- run tells the user that nobody has the key.
    key_undelivered boolean   NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS seed_ledger_stage_idx ON groundwork.seed_ledger (stage, id DESC);
-- Ledgers written before `table_state` existed. Checked first: ALTER TABLE would take an
-- exclusive lock on every run and queue behind concurrent seeders' stage transactions.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_attribute
                   WHERE attrelid = 'groundwork.seed_ledger'::regclass
                     AND attname = 'table_state' AND NOT attisdropped) THEN
        ALTER TABLE groundwork.seed_ledger ADD COLUMN table_state text;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_attribute
                   WHERE attrelid = 'groundwork.seed_ledger'::regclass
                     AND attname = 'key_undelivered' AND NOT attisdropped) THEN
        ALTER TABLE groundwork.seed_ledger ADD COLUMN key_undelivered boolean NOT NULL DEFAULT false;
    END IF;
END $$;";

/// Advisory-lock key guarding ledger creation ("seedledg" in ASCII), so concurrent seeders do
/// not race on `CREATE TABLE IF NOT EXISTS` (which is not concurrency-safe in PostgreSQL).
const LEDGER_LOCK_KEY: i64 = 0x7365_6564_6c65_6467;

/// Creates the ledger when missing.
pub async fn ensure(conn: &mut AsyncPgConnection) -> Result<()> {
    use diesel_async::AsyncConnection;
    conn.transaction::<(), SeedError, _>(async |c| {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
            .bind::<BigInt, _>(LEDGER_LOCK_KEY)
            .execute(c)
            .await?;
        c.batch_execute(CREATE).await?;
        Ok(())
    })
    .await
    .map_err(|e| match e {
        SeedError::Database { source, .. } => SeedError::Database {
            doing: "creating groundwork.seed_ledger".into(),
            source,
        },
        other => other,
    })
}

/// A ledger row as read back.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = seed_ledger)]
pub struct Entry {
    pub id: i64,
    pub stage_version: i32,
    pub input_hash: String,
    pub fingerprint: Option<String>,
    /// Cheap change signal of the stage's tables (see [`crate::fingerprint::table_state`]).
    pub table_state: Option<String>,
    pub counts: serde_json::Value,
    pub status: String,
    pub finished_at: DateTime<Utc>,
}

/// A ledger row to write.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = seed_ledger)]
pub struct NewEntry {
    pub stage: String,
    pub stage_version: i32,
    pub input_hash: String,
    pub params: serde_json::Value,
    pub fingerprint: Option<String>,
    pub table_state: Option<String>,
    pub counts: serde_json::Value,
    pub duration_ms: i64,
    pub status: String,
    pub error: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// The run created an API key that is not shown yet (see [`key_delivered`]).
    pub key_undelivered: bool,
}

/// Appends a row; returns its id.
pub async fn record(conn: &mut AsyncPgConnection, entry: &NewEntry) -> Result<i64> {
    diesel::insert_into(seed_ledger::table)
        .values(entry)
        .returning(seed_ledger::id)
        .get_result(conn)
        .await
        .map_err(SeedError::db("writing the seed ledger"))
}

/// Marks the key created by the run of row `id` as shown to the user.
pub async fn key_delivered(conn: &mut AsyncPgConnection, id: i64) -> Result<()> {
    diesel::update(seed_ledger::table.find(id))
        .set(seed_ledger::key_undelivered.eq(false))
        .execute(conn)
        .await
        .map_err(SeedError::db("recording that the API key was shown"))?;
    Ok(())
}

/// Forgets undelivered keys: a new key replaces them (called in the transaction that creates it).
pub async fn forget_undelivered_keys(conn: &mut AsyncPgConnection) -> Result<()> {
    diesel::update(seed_ledger::table.filter(seed_ledger::key_undelivered))
        .set(seed_ledger::key_undelivered.eq(false))
        .execute(conn)
        .await
        .map_err(SeedError::db("updating the seed ledger"))?;
    Ok(())
}

/// When the newest key that no run finished showing was created, if any.
pub async fn undelivered_key(conn: &mut AsyncPgConnection) -> Result<Option<DateTime<Utc>>> {
    seed_ledger::table
        .filter(seed_ledger::key_undelivered)
        .order(seed_ledger::id.desc())
        .select(seed_ledger::finished_at)
        .first(conn)
        .await
        .optional()
        .map_err(SeedError::db("reading the seed ledger"))
}

/// Records on row `id` (a successful stage-01 run) that the key it stands for was just replaced
/// and is not shown yet (see [`key_delivered`]), with the stage's tables' state after the
/// replacement: the row's fingerprint leaves the key's random columns out, so it still holds.
pub async fn key_replaced(conn: &mut AsyncPgConnection, id: i64, state: &str) -> Result<()> {
    diesel::update(seed_ledger::table.find(id))
        .set((
            seed_ledger::key_undelivered.eq(true),
            seed_ledger::table_state.eq(state),
        ))
        .execute(conn)
        .await
        .map_err(SeedError::db(
            "recording the new API key in the seed ledger",
        ))?;
    Ok(())
}

/// Replaces the table state of a row whose fingerprint was confirmed against the tables.
pub async fn set_table_state(conn: &mut AsyncPgConnection, id: i64, state: &str) -> Result<()> {
    diesel::update(seed_ledger::table.find(id))
        .set(seed_ledger::table_state.eq(state))
        .execute(conn)
        .await
        .map_err(SeedError::db("updating the seed ledger"))?;
    Ok(())
}

/// The newest row of a stage. Rows recorded under a former id of the stage
/// (`dataset::stage_id::RENAMED`) count as its own, so a database seeded before a
/// renumbering keeps its history.
pub async fn last(conn: &mut AsyncPgConnection, stage: &str) -> Result<Option<Entry>> {
    seed_ledger::table
        .filter(seed_ledger::stage.eq_any(stage_id::ledger_names(stage)))
        .order(seed_ledger::id.desc())
        .select(Entry::as_select())
        .first(conn)
        .await
        .optional()
        .map_err(SeedError::db("reading the seed ledger"))
}

/// The newest successful row of a stage (former ids included, as in [`last`]).
pub async fn last_success(conn: &mut AsyncPgConnection, stage: &str) -> Result<Option<Entry>> {
    seed_ledger::table
        .filter(seed_ledger::stage.eq_any(stage_id::ledger_names(stage)))
        .filter(seed_ledger::status.eq("succeeded"))
        .order(seed_ledger::id.desc())
        .select(Entry::as_select())
        .first(conn)
        .await
        .optional()
        .map_err(SeedError::db("reading the seed ledger"))
}

#[derive(diesel::QueryableByName)]
struct Present {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    present: bool,
}

/// Whether the ledger table exists (checked without creating it).
pub async fn exists(conn: &mut AsyncPgConnection) -> Result<bool> {
    let p: Present =
        diesel::sql_query("SELECT to_regclass('groundwork.seed_ledger') IS NOT NULL AS present")
            .get_result(conn)
            .await
            .map_err(SeedError::db("looking for groundwork.seed_ledger"))?;
    Ok(p.present)
}

/// The dataset inputs a run recorded (`params` of its ledger rows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub rng_seed: Option<u64>,
    pub as_of: Option<chrono::NaiveDate>,
    pub scale: Option<u32>,
}

/// The inputs of the newest successful stage run, if the ledger has one: what `seed verify`
/// regenerates the rows from when no flag says otherwise.
pub async fn recorded_inputs(conn: &mut AsyncPgConnection) -> Result<Option<Recorded>> {
    if !exists(conn).await? {
        return Ok(None);
    }
    let params: Option<serde_json::Value> = seed_ledger::table
        .filter(seed_ledger::status.eq("succeeded"))
        .order(seed_ledger::id.desc())
        .select(seed_ledger::params)
        .first(conn)
        .await
        .optional()
        .map_err(SeedError::db("reading the seed ledger"))?;
    Ok(params.map(|p| Recorded {
        rng_seed: p.get("rng_seed").and_then(serde_json::Value::as_u64),
        as_of: p
            .get("as_of")
            .and_then(serde_json::Value::as_str)
            .and_then(|d| d.parse().ok()),
        scale: p
            .get("scale")
            .and_then(serde_json::Value::as_u64)
            .and_then(|n| u32::try_from(n).ok()),
    }))
}
