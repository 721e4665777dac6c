//! The bulk loader of one seed run: its holder connection and lock, the one loading entry
//! point stages use ([`BulkLoader::load_rows`]), and the cleanup of its staging tables.

use super::conn::{db_err, describe_target, open};
use super::foreign_keys::{Deferred, may_defer};
use super::stream::{Naming, Segments, Stream, join_all};
use super::sweep::{BULK_LOCK_NAMESPACE, sweep_dead};
use super::{BulkError, BulkRow, BulkTable, Result, ident, merge};
use crate::write::Counts;
use diesel_async::AsyncPgConnection;
use groundwork_migrate::{ConnInfo, MigrateError};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_postgres::Client;

/// Batches a generator may have in flight per stream, beyond the one being written.
pub const CHANNEL_BATCHES: usize = 2;

/// Called with the number of rows each time a batch has been written to a stream.
pub type Progress = Arc<dyn Fn(u64) + Send + Sync>;

/// Streams to use by default: one per CPU, at most the connection pool's size (each stream is
/// one more connection).
pub fn default_streams(pool_size: u32) -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    cpus.min(pool_size.max(1) as usize)
}

/// Rows per batch when [`BulkLoader::load_rows`] cuts an iterator. Batches in flight bound
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

/// Whether `conn` is inside a transaction (the stage's, as the runner calls a load).
fn in_transaction(conn: &mut AsyncPgConnection) -> bool {
    use diesel_async::{AnsiTransactionManager, TransactionManager};
    matches!(
        <AnsiTransactionManager as TransactionManager<AsyncPgConnection>>::transaction_manager_status_mut(conn)
            .transaction_depth(),
        Ok(Some(_))
    )
}

/// Opens connections for bulk loads of one seed run and owns their staging tables.
pub struct BulkLoader {
    pub(super) cfg: ConnInfo,
    pub(super) target: String,
    pub(super) holder: Client,
    run_id: i32,
    pub(super) streams: usize,
    pub(super) segment_rows: u64,
    /// Whether fresh loads may check their foreign keys themselves ([`super::foreign_keys`]).
    may_defer: bool,
    seq: Arc<AtomicU32>,
    /// Staging tables this loader created, with their target tables.
    created: Arc<Mutex<Vec<(String, &'static str)>>>,
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
        let may_defer = may_defer(&holder).await;
        let loader = BulkLoader {
            may_defer,
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

    /// Rows per staging segment of [`load_from_producers`](Self::load_from_producers) (default [`SEGMENT_ROWS`]).
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

    pub(super) fn naming(&self) -> Naming {
        Naming {
            run_id: self.run_id,
            seq: self.seq.clone(),
            created: self.created.clone(),
        }
    }

    /// Loads `rows` like [`load_from_producers`](Self::load_from_producers), but the rows come from one iterator run on
    /// the calling task, which may borrow (a stage's `&Ctx`, say): it is cut into batches of
    /// [`BATCH_ROWS`] dealt round-robin to the streams, which encode and `COPY` them in
    /// parallel, while finished segments are merged on `conn`. Generation and merging share the
    /// task but not the work: the merge runs on the server while the next batch is generated.
    pub async fn load_rows<R, I>(
        &self,
        conn: &mut AsyncPgConnection,
        table: &BulkTable,
        rows: I,
        progress: Option<Progress>,
    ) -> Result<Counts>
    where
        R: BulkRow,
        I: IntoIterator<Item = R>,
    {
        // Into an empty table (a fresh database) the rows go in as they are, and its foreign
        // keys are checked once at the end where that is equivalent; a rerun upserts.
        let fresh = merge::is_empty(conn, table).await?;
        // Outside a transaction every segment would commit before any check ran.
        let deferred = if fresh && self.may_defer && in_transaction(conn) {
            Deferred::plan(&self.holder, table).await?
        } else {
            None
        };
        let mode = if fresh {
            merge::Mode::Fresh {
                deferred_keys: deferred.is_some(),
            }
        } else {
            merge::Mode::Upsert { guard: true }
        };
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
            let mut total = Counts::default();
            while let Some(seg) = segments.recv().await {
                let merged = match seg {
                    Ok((name, rows)) => match merge::merge(conn, table, &name, rows, mode).await {
                        Err(e) => Err(merge::explain(&self.holder, table, &name, e).await),
                        ok => ok,
                    },
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
        let result = match (result, &deferred) {
            (Ok(total), Some(d)) => d.check(conn).await.map(|()| total),
            (other, _) => other,
        };
        if result.is_err() {
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
        result
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

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn batched_bounds_batches() {
        let b: Vec<Vec<u32>> = batched(0..7u32, 3).collect();
        assert_eq!(b, vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]]);
        assert_eq!(batched(0..0u32, 3).count(), 0);
    }
}
