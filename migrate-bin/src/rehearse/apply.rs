//! Applying and reverting migrations on the scratch copy statement by statement, with what
//! each statement did to the tables: their storage (relfilenode) and row estimate before and
//! after, and the locks the transaction holds after it.
//!
//! The rehearsal does not go through the engine: the engine sends a transactional migration
//! as one batch, and the report needs every statement's own duration and effect. Bookkeeping
//! is kept to diesel's table, so a copy kept with `--keep` says which migrations it has.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio_postgres::Client;

use super::locks::LockMode;
use crate::error::Direction;
use crate::source::Migration;
use crate::split::split_statements;
use crate::sql::describe_driver_error;
use crate::store;

/// A table as the catalog shows it at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct RelInfo {
    /// `schema.table`.
    pub name: String,
    /// The file that holds its rows: a new one means the table was rewritten.
    pub relfilenode: u32,
    /// `reltuples`: the planner's row estimate (-1 when never analysed).
    pub rows: f64,
}

/// The user tables by oid.
pub type Rels = HashMap<u32, RelInfo>;

/// One statement as it ran.
#[derive(Debug, Clone)]
pub struct StatementRun {
    /// The statement.
    pub sql: String,
    /// When it was sent.
    pub started: Instant,
    /// When its result arrived.
    pub ended: Instant,
    /// Tables before it.
    pub before: Rels,
    /// Tables after it.
    pub after: Rels,
    /// Table locks the transaction holds after it (transactional migrations only: outside a
    /// transaction, a statement's locks end with it).
    pub held_after: Vec<(u32, LockMode)>,
}

/// One migration as it ran.
#[derive(Debug, Clone)]
pub struct MigrationRun {
    /// Its version.
    pub version: String,
    /// Its name.
    pub name: String,
    /// Whether it ran in one transaction (locks held until its COMMIT).
    pub transactional: bool,
    /// Its statements, in order.
    pub statements: Vec<StatementRun>,
    /// When its bookkeeping started (after its last statement).
    pub book_started: Instant,
    /// When it was committed (or its last statement ended): when its locks were released.
    pub finished: Instant,
}

/// A statement that failed on the copy.
#[derive(Debug, Clone)]
pub struct StepFailure {
    /// `applying` or `reverting`.
    pub direction: Direction,
    /// The migration.
    pub version: String,
    /// Its name.
    pub name: String,
    /// 1-based statement number and its first line.
    pub statement: (usize, String),
    /// PostgreSQL's error.
    pub error: String,
}

// Only the product's tables: not the catalog, not the tool's own bookkeeping.
const RELS_SQL: &str = "\
SELECT c.oid, n.nspname || '.' || c.relname, c.relfilenode, c.reltuples::float8 \
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
WHERE c.relkind IN ('r', 'm', 'p') \
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'groundwork') \
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'";

const OWN_LOCKS_SQL: &str = "\
SELECT relation, mode FROM pg_locks \
WHERE pid = pg_backend_pid() AND locktype = 'relation' AND granted";

/// Reads the user tables.
pub async fn rels(client: &Client) -> Result<Rels, tokio_postgres::Error> {
    let rows = client.query(RELS_SQL, &[]).await?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                r.get::<_, u32>(0),
                RelInfo {
                    name: r.get(1),
                    relfilenode: r.get(2),
                    rows: r.get(3),
                },
            )
        })
        .collect())
}

async fn own_locks(client: &Client) -> Result<Vec<(u32, LockMode)>, tokio_postgres::Error> {
    let rows = client.query(OWN_LOCKS_SQL, &[]).await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let oid: Option<u32> = r.get(0);
            let mode: String = r.get(1);
            Some((oid?, LockMode::from_pg(&mode)?))
        })
        .collect())
}

/// The versions diesel's table lists on the copy (none when the table does not exist).
pub async fn applied_versions(client: &Client) -> Result<Vec<String>, tokio_postgres::Error> {
    let exists: bool = client
        .query_one(
            "SELECT to_regclass('public.__diesel_schema_migrations') IS NOT NULL",
            &[],
        )
        .await?
        .get(0);
    if !exists {
        return Ok(Vec::new());
    }
    let rows = client
        .query("SELECT version::text FROM __diesel_schema_migrations", &[])
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Runs one migration's `up.sql` (or `down.sql`) on the copy. With `observe`, every
/// statement is framed by catalog reads (tables before and after, own locks after); without
/// it, the statements run alone (the benchmark's baseline).
pub async fn run_migration(
    client: &Client,
    migration: &Migration,
    direction: Direction,
    observe: bool,
) -> Result<MigrationRun, StepFailure> {
    let sql = match direction {
        Direction::Up => migration.up_sql.as_str(),
        Direction::Down => migration.down_sql.as_deref().unwrap_or_default(),
    };
    let tx = migration.run_in_transaction;
    let fail = |n: usize, statement: &str, e: &tokio_postgres::Error| StepFailure {
        direction,
        version: migration.version.clone(),
        name: migration.name.clone(),
        statement: (n, crate::split::first_line(statement, SQL_WIDTH)),
        error: describe_driver_error(e),
    };
    let statements = split_statements(sql);
    let mut done = Vec::with_capacity(statements.len());
    let mut book_started = Instant::now();
    let result: Result<(), StepFailure> = async {
        if tx {
            client
                .batch_execute("BEGIN")
                .await
                .map_err(|e| fail(0, "BEGIN", &e))?;
        }
        // Between two statements of one run nothing else touches the copy, so the tables
        // after one are the tables before the next: one catalog read per statement.
        let mut previous: Option<Rels> = None;
        for (i, statement) in statements.iter().enumerate() {
            let n = i + 1;
            let before = match previous.take() {
                Some(rels) => rels,
                None if observe => rels(client).await.map_err(|e| fail(n, statement, &e))?,
                None => Rels::new(),
            };
            let started = Instant::now();
            client
                .batch_execute(statement)
                .await
                .map_err(|e| fail(n, statement, &e))?;
            let ended = Instant::now();
            let (after, held_after) = if observe {
                let after = rels(client).await.map_err(|e| fail(n, statement, &e))?;
                let held = if tx {
                    own_locks(client)
                        .await
                        .map_err(|e| fail(n, statement, &e))?
                } else {
                    Vec::new()
                };
                (after, held)
            } else {
                (Rels::new(), Vec::new())
            };
            if observe {
                previous = Some(after.clone());
            }
            done.push(StatementRun {
                sql: statement.clone(),
                started,
                ended,
                before,
                after,
                held_after,
            });
        }
        book_started = Instant::now();
        book(client, &migration.version, direction)
            .await
            .map_err(|e| fail(statements.len(), "bookkeeping", &e))?;
        if tx {
            client
                .batch_execute("COMMIT")
                .await
                .map_err(|e| fail(statements.len(), "COMMIT", &e))?;
        }
        Ok(())
    }
    .await;
    if let Err(failure) = result {
        if tx {
            // The copy is thrown away (or kept for a look); a failed ROLLBACK changes neither.
            let _ = client.batch_execute("ROLLBACK").await;
        }
        return Err(failure);
    }
    Ok(MigrationRun {
        version: migration.version.clone(),
        name: migration.name.clone(),
        transactional: tx,
        statements: done,
        book_started,
        finished: Instant::now(),
    })
}

async fn book(
    client: &Client,
    version: &str,
    direction: Direction,
) -> Result<(), tokio_postgres::Error> {
    client.batch_execute(store::DIESEL_TABLE_DDL).await?;
    match direction {
        Direction::Up => {
            client
                .execute(
                    "INSERT INTO __diesel_schema_migrations (version) VALUES ($1) \
                     ON CONFLICT DO NOTHING",
                    &[&version],
                )
                .await?
        }
        Direction::Down => {
            client
                .execute(
                    "DELETE FROM __diesel_schema_migrations WHERE version = $1",
                    &[&version],
                )
                .await?
        }
    };
    Ok(())
}

/// How much of a statement rehearsal tables and messages show.
pub const SQL_WIDTH: usize = 70;

/// Milliseconds between two instants (zero when `to` is earlier).
pub fn ms_between(from: Instant, to: Instant) -> u64 {
    u64::try_from(to.saturating_duration_since(from).as_millis()).unwrap_or(u64::MAX)
}

/// Milliseconds of a duration.
pub fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
