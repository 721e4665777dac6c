//! Step 1 of a load: staging tables, parallel binary `COPY` streams, cleanup and the sweep of
//! stale staging tables (the rules are in the module docs of `bulk`).

use super::error::describe;
use super::merge::{self, MergeCounts};
use super::{BulkError, BulkRow, BulkTable, Field, Result, ident, ident_list};
use diesel_async::AsyncPgConnection;
use groundwork_migrate::{ConnInfo, MigrateError};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_postgres::Client;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;

/// First key of the two-key advisory lock a loader holds for its life (ASCII `bulk`); the
/// second key is the run id. Two-key locks live apart from the runner's one-key locks.
const BULK_LOCK_NAMESPACE: i32 = 0x6275_6c6b;

/// Batches a generator may have in flight per stream, beyond the one being written.
pub const CHANNEL_BATCHES: usize = 2;

/// PostgreSQL truncates identifiers longer than this; staging names are kept within it.
const MAX_IDENT: usize = 63;

/// Called with the number of rows each time a batch has been written to a stream.
pub type Progress = Arc<dyn Fn(u64) + Send + Sync>;

/// Streams to use by default: one per CPU, at most the connection pool's size (each stream is
/// one more connection).
pub fn default_streams(pool_size: u32) -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    cpus.min(pool_size.max(1) as usize)
}

/// Splits `items` into at most `parts` contiguous, non-empty chunks of near-equal size (e.g.
/// tenants across streams). Contiguous chunks keep each stream's rows in generation order.
pub fn split<T: Clone>(items: &[T], parts: usize) -> Vec<Vec<T>> {
    if items.is_empty() {
        return Vec::new();
    }
    let parts = parts.clamp(1, items.len());
    let (base, extra) = (items.len() / parts, items.len() % parts);
    let mut out = Vec::with_capacity(parts);
    let mut start = 0;
    for i in 0..parts {
        let len = base + usize::from(i < extra);
        out.push(items[start..start + len].to_vec());
        start += len;
    }
    out
}

/// Groups an iterator of rows into `Vec`s of `size` rows: a lazy row generator becomes a
/// bounded-batch generator.
pub fn batched<I: Iterator>(iter: I, size: usize) -> impl Iterator<Item = Vec<I::Item>> {
    let size = size.max(1);
    let mut iter = iter.fuse();
    std::iter::from_fn(move || {
        let batch: Vec<I::Item> = iter.by_ref().take(size).collect();
        (!batch.is_empty()).then_some(batch)
    })
}

/// `postgres://user@host:port/database`, never the password.
fn describe_target(cfg: &ConnInfo) -> String {
    cfg.redacted()
}

/// Opens a `COPY` connection through the engine's connect, so it has the same deadline (a
/// silent server fails the stage instead of hanging it) and the same redaction.
async fn open(cfg: &ConnInfo, target: &str) -> Result<Client> {
    let (client, connection) =
        groundwork_migrate::policy::connect_client(cfg, "groundwork-seed-bulk")
            .await
            .map_err(|e| BulkError::Connect {
                target: target.to_string(),
                cause: match e {
                    MigrateError::Unreachable { reason, .. } => reason,
                    MigrateError::DatabaseMissing { database, .. } => {
                        format!("database `{database}` does not exist")
                    }
                    other => other.to_string(),
                },
            })?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "bulk-load connection ended with an error");
        }
    });
    Ok(client)
}

fn db_err(
    table: &str,
    doing: impl Into<String>,
) -> impl FnOnce(tokio_postgres::Error) -> BulkError {
    let (table, doing) = (table.to_string(), doing.into());
    move |e| BulkError::Database {
        table,
        doing,
        cause: describe(&e),
    }
}

/// The run id encoded in a staging table's name (`stg_<run>_<seq>_<table>`).
fn run_id_of(staging: &str) -> Option<i32> {
    staging
        .strip_prefix("stg_")?
        .split('_')
        .next()?
        .parse()
        .ok()
}

/// Drops the staging tables of dead seed runs (see the module docs of `bulk` for the rule),
/// on a connection of its own; returns how many. Every seed run calls this before its stages,
/// so a killed run's leftovers go even when no later stage needs a bulk load.
pub async fn sweep_stale(cfg: &ConnInfo) -> Result<usize> {
    let client = open(cfg, &describe_target(cfg)).await?;
    let present: bool = client
        .query_one("SELECT to_regnamespace('groundwork') IS NOT NULL", &[])
        .await
        .map_err(db_err("groundwork", "looking for schema groundwork"))?
        .get(0);
    if !present {
        return Ok(0);
    }
    sweep_dead(&client, None).await
}

/// The sweep itself. `own_run` is the caller's own run id when it is a loader: a table with
/// that id is an earlier, dead session's with the same pid (the caller holds that lock).
async fn sweep_dead(client: &Client, own_run: Option<i32>) -> Result<usize> {
    let rows = client
        .query(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'groundwork' AND c.relkind = 'r' AND c.relname LIKE 'stg\\_%'",
            &[],
        )
        .await
        .map_err(db_err("groundwork", "listing staging tables"))?;
    let mut dropped = 0;
    for row in rows {
        let name: String = row.get(0);
        let Some(run) = run_id_of(&name) else {
            continue;
        };
        let mine = own_run == Some(run);
        // The owner's session lock is free only when its session is gone, however it died.
        let stale = mine || {
            let got: bool = client
                .query_one(
                    "SELECT pg_try_advisory_lock($1, $2)",
                    &[&BULK_LOCK_NAMESPACE, &run],
                )
                .await
                .map_err(db_err("groundwork", "probing a staging table's owner"))?
                .get(0);
            got
        };
        if !stale {
            continue;
        }
        let drop = client
            .batch_execute(&format!("DROP TABLE IF EXISTS groundwork.{}", ident(&name)))
            .await;
        if !mine {
            let _ = client
                .execute(
                    "SELECT pg_advisory_unlock($1, $2)",
                    &[&BULK_LOCK_NAMESPACE, &run],
                )
                .await;
        }
        drop.map_err(db_err(
            "groundwork",
            format!("dropping stale staging table {name}"),
        ))?;
        tracing::info!(table = %name, "dropped a staging table left by an earlier run");
        dropped += 1;
    }
    Ok(dropped)
}

/// Opens connections for bulk loads of one seed run and owns their staging tables.
pub struct BulkLoader {
    cfg: ConnInfo,
    target: String,
    holder: Client,
    run_id: i32,
    streams: usize,
    segment_rows: u64,
    seq: Arc<AtomicU32>,
    /// Staging tables this loader created, with their target tables.
    created: Arc<Mutex<Vec<(String, &'static str)>>>,
}

/// Rows copied into a staging table, waiting to be merged.
#[derive(Debug)]
#[must_use = "staged rows reach the target table only through `merge`"]
pub struct Staged {
    table: BulkTable,
    staging: String,
    rows: u64,
}

impl Staged {
    /// Rows in the staging table.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The staging table's name (in schema `groundwork`).
    pub fn staging_table(&self) -> &str {
        &self.staging
    }

    /// Merges into the target table and drops the staging table, on `conn` — the stage's
    /// connection, inside its transaction, so both roll back with the stage.
    pub async fn merge(self, conn: &mut AsyncPgConnection) -> Result<MergeCounts> {
        merge::merge(conn, &self.table, &self.staging, self.rows, false).await
    }
}

impl BulkLoader {
    /// Opens the holder connection, takes the run's lock and sweeps stale staging tables.
    /// `streams` is the number of parallel `COPY` connections a load may open (at least 1).
    pub async fn connect(url: &str, streams: usize) -> Result<BulkLoader> {
        let cfg = ConnInfo::parse(url).map_err(|e| {
            // The parser's reason never echoes the secret parts of the string.
            BulkError::Url(match e {
                MigrateError::MalformedUrl { reason, .. } => reason,
                other => other.to_string(),
            })
        })?;
        Self::connect_with(&cfg, streams).await
    }

    /// [`connect`](Self::connect) with settings parsed already (the run's, with its
    /// `--connect-timeout`).
    pub async fn connect_with(cfg: &ConnInfo, streams: usize) -> Result<BulkLoader> {
        let cfg = cfg.clone();
        let target = describe_target(&cfg);
        let holder = open(&cfg, &target).await?;
        let run_id: i32 = holder
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .map_err(db_err("groundwork", "reading the backend pid"))?
            .get(0);
        holder
            .execute(
                "SELECT pg_advisory_lock($1, $2)",
                &[&BULK_LOCK_NAMESPACE, &run_id],
            )
            .await
            .map_err(db_err("groundwork", "taking the bulk loader's lock"))?;
        // Concurrent seeders may race to create the schema; the loser's unique violation
        // means it exists, which is all we need.
        if let Err(e) = holder
            .batch_execute("CREATE SCHEMA IF NOT EXISTS groundwork")
            .await
        {
            let exists = e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION);
            if !exists {
                return Err(db_err("groundwork", "creating schema groundwork")(e));
            }
        }
        let loader = BulkLoader {
            cfg,
            target,
            holder,
            run_id,
            streams: streams.max(1),
            segment_rows: SEGMENT_ROWS,
            seq: Arc::new(AtomicU32::new(0)),
            created: Arc::new(Mutex::new(Vec::new())),
        };
        loader.sweep().await?;
        Ok(loader)
    }

    /// Parallel `COPY` streams a load may open.
    pub fn streams(&self) -> usize {
        self.streams
    }

    /// Rows per staging segment of [`upsert`](Self::upsert) (default [`SEGMENT_ROWS`]).
    pub fn set_segment_rows(&mut self, rows: u64) {
        self.segment_rows = rows.max(1);
    }

    /// This loader's run id (the holder connection's backend pid).
    pub fn run_id(&self) -> i32 {
        self.run_id
    }

    /// Drops staging tables of loaders whose holder connection is gone; returns how many.
    pub async fn sweep(&self) -> Result<usize> {
        sweep_dead(&self.holder, Some(self.run_id)).await
    }

    fn naming(&self) -> Naming {
        Naming {
            run_id: self.run_id,
            seq: self.seq.clone(),
            created: self.created.clone(),
        }
    }

    /// Creates one staging table for `table` and fills it from `producers`, each an iterator of
    /// row batches run on its own blocking thread and `COPY` connection, at most
    /// [`streams`](Self::streams) at a time. Calls `progress` after each written batch.
    ///
    /// Staging needs no transaction, so a stage can stage before opening its transaction and
    /// keep that short; [`upsert`](Self::upsert) overlaps staging and merging instead.
    pub async fn stage<R, P>(
        &self,
        table: &BulkTable,
        producers: Vec<P>,
        progress: Option<Progress>,
    ) -> Result<Staged>
    where
        R: BulkRow,
        P: Iterator<Item = Vec<R>> + Send + 'static,
    {
        let staging = self.naming().next(table.table);
        // Not on the shared holder: `LIKE` waits for locks on the target table.
        open(&self.cfg, &self.target)
            .await?
            .batch_execute(&create_sql(&staging, table))
            .await
            .map_err(db_err(table.table, "creating its staging table"))?;
        let (mut segments, mut tasks) = self
            .spawn_streams(table, producers, progress, Segments::One(staging.clone()))
            .await?;
        let mut rows = 0;
        let mut failure = None;
        while let Some(seg) = segments.recv().await {
            match seg {
                Ok((_, n)) => rows += n,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let failure = match failure {
            Some(e) => Some(e),
            None => join_all(&mut tasks, table).await.err(),
        };
        match failure {
            None => Ok(Staged {
                table: *table,
                staging,
                rows,
            }),
            Some(e) => {
                tasks.abort_all();
                while tasks.join_next().await.is_some() {}
                // Best effort: `cleanup` retries whatever this leaves behind.
                let _ = self
                    .holder
                    .batch_execute(&format!(
                        "DROP TABLE IF EXISTS groundwork.{}",
                        ident(&staging)
                    ))
                    .await;
                Err(e)
            }
        }
    }

    /// Loads `producers` into `table` on `conn` (the stage's connection, inside its
    /// transaction), pipelined: every stream fills a fresh staging *segment* of
    /// [`SEGMENT_ROWS`] rows (see [`set_segment_rows`](Self::set_segment_rows)) at a time, and each finished segment is merged (and dropped) on
    /// `conn` while the streams keep copying, so the merge — the part that must run in the
    /// stage's transaction, on one backend — overlaps generation and `COPY`.
    ///
    /// Two rows with the same natural key in one load are an error even when they land in
    /// different segments: the merge refuses to update a row this transaction already wrote.
    pub async fn upsert<R, P>(
        &self,
        conn: &mut AsyncPgConnection,
        table: &BulkTable,
        producers: Vec<P>,
        progress: Option<Progress>,
    ) -> Result<MergeCounts>
    where
        R: BulkRow,
        P: Iterator<Item = Vec<R>> + Send + 'static,
    {
        let (mut segments, mut tasks) = self
            .spawn_streams(
                table,
                producers,
                progress,
                Segments::Rotate(self.segment_rows),
            )
            .await?;
        let mut total = MergeCounts::default();
        let mut failure = None;
        while let Some(seg) = segments.recv().await {
            let merged = match seg {
                Ok((name, rows)) => merge::merge(conn, table, &name, rows, true).await,
                Err(e) => Err(e),
            };
            match merged {
                Ok(c) => total.add(&c),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let failure = match failure {
            Some(e) => Some(e),
            None => join_all(&mut tasks, table).await.err(),
        };
        match failure {
            None => Ok(total),
            Some(e) => {
                // Dropping the other streams' writers aborts their COPYs; their segments are
                // dropped by `cleanup` once the stage's transaction has ended.
                tasks.abort_all();
                while tasks.join_next().await.is_some() {}
                Err(e)
            }
        }
    }

    /// Loads `rows` like [`upsert`](Self::upsert), but the rows come from one iterator run on
    /// the calling task, which may borrow (a stage's `&Ctx`, say): it is cut into batches of
    /// [`BATCH_ROWS`] dealt round-robin to the streams, which encode and `COPY` them in
    /// parallel, while finished segments are merged on `conn`. Generation and merging share the
    /// task but not the work: the merge runs on the server while the next batch is generated.
    pub async fn upsert_rows<R, I>(
        &self,
        conn: &mut AsyncPgConnection,
        table: &BulkTable,
        rows: I,
        progress: Option<Progress>,
    ) -> Result<MergeCounts>
    where
        R: BulkRow,
        I: IntoIterator<Item = R>,
    {
        let (out, mut segments) = mpsc::unbounded_channel();
        let mut senders = Vec::with_capacity(self.streams);
        let mut tasks = JoinSet::new();
        for _ in 0..self.streams {
            let (tx, rx) = mpsc::channel::<Vec<R>>(CHANNEL_BATCHES);
            senders.push(tx);
            let stream = Stream {
                cfg: self.cfg.clone(),
                target: self.target.clone(),
                table: *table,
                progress: progress.clone(),
                segments: Segments::Rotate(self.segment_rows),
                naming: self.naming(),
            };
            let out = out.clone();
            tasks.spawn(async move {
                if let Err(e) = stream.consume(rx, &out).await {
                    let _ = out.send(Err(e));
                }
            });
        }
        drop(out);
        let stop = std::sync::atomic::AtomicBool::new(false);
        let feed = async {
            for (next, batch) in batched(rows.into_iter(), BATCH_ROWS).enumerate() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                // A closed channel means that stream failed; its error arrives on `segments`.
                if senders[next % senders.len()].send(batch).await.is_err() {
                    break;
                }
            }
            // Closing the channels lets the streams finish their last segments.
            senders.clear();
        };
        let merge = async {
            let mut total = MergeCounts::default();
            while let Some(seg) = segments.recv().await {
                let merged = match seg {
                    Ok((name, rows)) => merge::merge(conn, table, &name, rows, true).await,
                    Err(e) => Err(e),
                };
                match merged {
                    Ok(c) => total.add(&c),
                    Err(e) => {
                        stop.store(true, Ordering::Relaxed);
                        return Err(e);
                    }
                }
            }
            Ok(total)
        };
        let ((), merged) = tokio::join!(feed, merge);
        let result = match merged {
            Ok(total) => join_all(&mut tasks, table).await.map(|()| total),
            Err(e) => Err(e),
        };
        if result.is_err() {
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
        result
    }

    /// Starts one task per producer (at most `streams` running); each reports its finished
    /// segments, or its error, on the returned channel, which closes when all are done.
    async fn spawn_streams<R, P>(
        &self,
        table: &BulkTable,
        producers: Vec<P>,
        progress: Option<Progress>,
        segments: Segments,
    ) -> Result<(mpsc::UnboundedReceiver<Result<(String, u64)>>, JoinSet<()>)>
    where
        R: BulkRow,
        P: Iterator<Item = Vec<R>> + Send + 'static,
    {
        let permits = Arc::new(Semaphore::new(self.streams));
        let (out, rx) = mpsc::unbounded_channel();
        let mut tasks = JoinSet::new();
        for producer in producers {
            let stream = Stream {
                cfg: self.cfg.clone(),
                target: self.target.clone(),
                table: *table,
                progress: progress.clone(),
                segments: segments.clone(),
                naming: self.naming(),
            };
            let (permits, out) = (permits.clone(), out.clone());
            tasks.spawn(async move {
                let generator_failed = |e: &dyn std::fmt::Display| BulkError::Generator {
                    table: stream.table.table.into(),
                    cause: e.to_string(),
                };
                let result = match permits.acquire_owned().await {
                    Ok(_permit) => {
                        let (tx, rx) = mpsc::channel::<Vec<R>>(CHANNEL_BATCHES);
                        let generator = tokio::task::spawn_blocking(move || {
                            for batch in producer {
                                // The stream failed and dropped its receiver: stop generating.
                                if tx.blocking_send(batch).is_err() {
                                    break;
                                }
                            }
                        });
                        let consumed = stream.consume(rx, &out).await;
                        let generated = generator.await.map_err(|e| generator_failed(&e));
                        consumed.and(generated)
                    }
                    Err(e) => Err(generator_failed(&e)),
                };
                if let Err(e) = result {
                    let _ = out.send(Err(e));
                }
            });
        }
        Ok((rx, tasks))
    }

    /// Drops this run's staging tables that still exist (after a failed stage, its rolled-back
    /// transaction brought them back). Call it once the stage's transaction has ended: the
    /// drop waits for the merge's lock otherwise.
    pub async fn cleanup(&self) -> Result<usize> {
        self.cleanup_where(|_| true).await
    }

    /// [`cleanup`](Self::cleanup) for the staging tables of loads into `tables` only: stages
    /// running at the same time keep their own segments.
    pub async fn cleanup_tables(&self, tables: &[&str]) -> Result<usize> {
        self.cleanup_where(|target| tables.contains(&target)).await
    }

    async fn cleanup_where(&self, mine: impl Fn(&str) -> bool) -> Result<usize> {
        let names: Vec<String> = match self.created.lock() {
            Ok(mut c) => {
                let (take, keep) = std::mem::take(&mut *c)
                    .into_iter()
                    .partition(|(_, target)| mine(target));
                *c = keep;
                take.into_iter().map(|(name, _)| name).collect()
            }
            Err(_) => return Ok(0),
        };
        let mut dropped = 0;
        for name in names {
            let existed: bool = self
                .holder
                .query_one(
                    "SELECT to_regclass($1) IS NOT NULL",
                    &[&format!("groundwork.{}", ident(&name))],
                )
                .await
                .map_err(db_err("groundwork", "looking up a staging table"))?
                .get(0);
            if existed {
                self.holder
                    .batch_execute(&format!("DROP TABLE IF EXISTS groundwork.{}", ident(&name)))
                    .await
                    .map_err(db_err(
                        "groundwork",
                        format!("dropping staging table {name}"),
                    ))?;
                dropped += 1;
            }
        }
        Ok(dropped)
    }

    /// Cleans up and closes the holder connection (which releases the run's lock).
    pub async fn close(self) -> Result<()> {
        self.cleanup().await?;
        Ok(())
    }
}

/// tokio-postgres names a value that failed to encode by its position only; name the column.
fn encode_error(table: &BulkTable, e: &tokio_postgres::Error) -> BulkError {
    let text = describe(e);
    let column = text
        .strip_prefix("error serializing parameter ")
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.trim().parse::<usize>().ok())
        .and_then(|i| table.columns.get(i));
    let (doing, cause) = match column {
        Some(c) => (
            format!("encoding column `{c}`"),
            text.split_once(": ")
                .map_or(text.clone(), |(_, rest)| rest.to_string()),
        ),
        None => ("sending rows with COPY".to_string(), text),
    };
    BulkError::Database {
        table: table.table.into(),
        doing,
        cause,
    }
}

/// Rows per batch when [`BulkLoader::upsert_rows`] cuts an iterator. Batches in flight bound
/// the loader's memory (a raw import row with its three JSON documents takes a few KB), and
/// with stages running in parallel several loads are in flight. Peak RSS at `--scale 1000`
/// (it levels off there: the same at 2 000): 198 MB with 4 096-row batches, 65 MB with 1 024,
/// 42 MB with 512, which also kept the run as fast.
pub const BATCH_ROWS: usize = 512;

/// Rows per staging segment of a pipelined load: large enough that a merge statement's fixed
/// cost disappears, small enough that the first merge starts early.
pub const SEGMENT_ROWS: u64 = 50_000;

/// Rows of a stream's first segment in a pipelined load; later segments double
/// up to [`SEGMENT_ROWS`]. Measured at `--scale 1000`: with 50 000-row first segments each load
/// waited 1–1.5 s for its first merge.
pub const FIRST_SEGMENT_ROWS: u64 = 8_192;

/// Where a stream's rows go.
#[derive(Clone)]
enum Segments {
    /// One staging table shared by every stream (created beforehand).
    One(String),
    /// A new staging table every this many rows.
    Rotate(u64),
}

/// Names staging tables and records them for `cleanup`.
#[derive(Clone)]
struct Naming {
    run_id: i32,
    seq: Arc<AtomicU32>,
    created: Arc<Mutex<Vec<(String, &'static str)>>>,
}

impl Naming {
    fn next(&self, table: &'static str) -> String {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let mut name = format!("stg_{}_{seq}_{table}", self.run_id);
        // Table names are ASCII identifiers, so truncating by bytes stays on a char boundary.
        name.truncate(MAX_IDENT);
        if let Ok(mut c) = self.created.lock() {
            c.push((name.clone(), table));
        }
        name
    }
}

fn create_sql(staging: &str, table: &BulkTable) -> String {
    format!(
        "CREATE UNLOGGED TABLE groundwork.{} (LIKE public.{} INCLUDING DEFAULTS)",
        ident(staging),
        ident(table.table)
    )
}

/// Column types of a load, from the server (enum OIDs differ per database). Read on the
/// stream's own connection: the probe waits for any lock held on the table, and must not hold
/// up the loads of other stages.
async fn column_types(client: &Client, table: &BulkTable) -> Result<Vec<Type>> {
    let probe = format!(
        "SELECT {} FROM public.{} LIMIT 0",
        ident_list(table.columns),
        ident(table.table)
    );
    let stmt = client
        .prepare(&probe)
        .await
        .map_err(db_err(table.table, "reading its column types"))?;
    Ok(stmt.columns().iter().map(|c| c.type_().clone()).collect())
}

/// One `COPY` connection fed by one generator.
struct Stream {
    cfg: ConnInfo,
    target: String,
    table: BulkTable,
    progress: Option<Progress>,
    segments: Segments,
    naming: Naming,
}

type Writer = std::pin::Pin<Box<BinaryCopyInWriter>>;

impl Stream {
    async fn consume<R: BulkRow>(
        &self,
        mut rx: mpsc::Receiver<Vec<R>>,
        out: &mpsc::UnboundedSender<Result<(String, u64)>>,
    ) -> Result<()> {
        let table = self.table.table;
        let client = open(&self.cfg, &self.target).await?;
        let types = column_types(&client, &self.table).await?;
        let ncols = types.len();
        let mut current: Option<(String, Writer, u64)> = None;
        // Segments start small and double up to the configured size, so the first merge
        // starts after a couple of batches instead of a whole segment.
        let mut limit = match self.segments {
            Segments::Rotate(every) => every.min(FIRST_SEGMENT_ROWS),
            Segments::One(_) => u64::MAX,
        };
        while let Some(batch) = rx.recv().await {
            let (_, writer, rows) = match &mut current {
                Some(c) => c,
                None => current.insert(self.open_segment(&client, &types).await?),
            };
            let mut values: Vec<Field<'_>> = Vec::with_capacity(ncols);
            for row in &batch {
                row.write(&mut values);
                if values.len() != ncols {
                    return Err(BulkError::RowShape {
                        table: table.into(),
                        got: values.len(),
                        expected: ncols,
                        columns: self.table.columns.join(", "),
                    });
                }
                if let Err(e) = writer.as_mut().write_raw(values.drain(..)).await {
                    return Err(encode_error(&self.table, &e));
                }
            }
            *rows += batch.len() as u64;
            if let Some(p) = &self.progress {
                p(batch.len() as u64);
            }
            if let Segments::Rotate(every) = self.segments
                && *rows >= limit
                && let Some(done) = current.take()
            {
                self.finish_segment(done, out).await?;
                limit = limit.saturating_mul(2).min(every);
            }
        }
        if let Some(done) = current.take() {
            self.finish_segment(done, out).await?;
        }
        Ok(())
    }

    async fn open_segment(&self, client: &Client, types: &[Type]) -> Result<(String, Writer, u64)> {
        let table = self.table.table;
        let name = match &self.segments {
            Segments::One(name) => name.clone(),
            Segments::Rotate(_) => {
                let name = self.naming.next(table);
                client
                    .batch_execute(&create_sql(&name, &self.table))
                    .await
                    .map_err(db_err(table, "creating a staging segment"))?;
                name
            }
        };
        let sink = client
            .copy_in::<_, bytes::Bytes>(&format!(
                "COPY groundwork.{} ({}) FROM STDIN (FORMAT binary)",
                ident(&name),
                ident_list(self.table.columns)
            ))
            .await
            .map_err(db_err(table, "starting COPY into its staging table"))?;
        Ok((name, Box::pin(BinaryCopyInWriter::new(sink, types)), 0))
    }

    async fn finish_segment(
        &self,
        (name, mut writer, rows): (String, Writer, u64),
        out: &mpsc::UnboundedSender<Result<(String, u64)>>,
    ) -> Result<()> {
        writer.as_mut().finish().await.map_err(db_err(
            self.table.table,
            "finishing COPY into its staging table",
        ))?;
        // The receiver is gone only when the load already failed; nothing to report then.
        let _ = out.send(Ok((name, rows)));
        Ok(())
    }
}

/// Waits for every stream task; a panic or cancellation becomes an error.
async fn join_all(tasks: &mut JoinSet<()>, table: &BulkTable) -> Result<()> {
    while let Some(joined) = tasks.join_next().await {
        joined.map_err(|e| BulkError::Generator {
            table: table.table.into(),
            cause: e.to_string(),
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn split_is_contiguous_and_balanced() {
        let v: Vec<u32> = (0..10).collect();
        let parts = split(&v, 3);
        assert_eq!(parts, vec![vec![0, 1, 2, 3], vec![4, 5, 6], vec![7, 8, 9]]);
        assert_eq!(split(&v[..2], 8).len(), 2);
        assert!(split::<u32>(&[], 4).is_empty());
    }

    #[test]
    fn batched_bounds_batches() {
        let b: Vec<Vec<u32>> = batched(0..7u32, 3).collect();
        assert_eq!(b, vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]]);
        assert_eq!(batched(0..0u32, 3).count(), 0);
    }

    #[test]
    fn staging_names_carry_the_run_id() {
        assert_eq!(run_id_of("stg_4242_0_assets"), Some(4242));
        assert_eq!(run_id_of("stg_x_0_assets"), None);
        assert_eq!(run_id_of("assets"), None);
    }
}
