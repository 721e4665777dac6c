//! Loading modes only the benchmark (`examples/bulk_bench.rs`, feature `bench`) and the
//! loader's tests use: staging without merging ([`BulkLoader::stage`] + [`Staged::merge`]) and
//! a pipelined load from several producers ([`BulkLoader::load_from_producers`]). Seed stages load through
//! [`BulkLoader::load_rows`] only.

use super::conn::{db_err, open};
use super::loader::{BulkLoader, CHANNEL_BATCHES, Progress};
use super::stream::{Segments, Stream, create_sql, join_all};
use super::{BulkError, BulkRow, BulkTable, Result, ident, merge};
use crate::write::Counts;
use diesel_async::AsyncPgConnection;
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

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

/// Rows copied into a staging table, waiting to be merged.
#[derive(Debug)]
#[must_use = "staged rows reach the target table only through `merge`"]
pub struct Staged {
    table: BulkTable,
    staging: String,
    rows: u64,
    /// Where to open a connection that explains a failed merge.
    cfg: groundwork_migrate::ConnInfo,
    target: String,
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
    pub async fn merge(self, conn: &mut AsyncPgConnection) -> Result<Counts> {
        let merged = merge::merge(
            conn,
            &self.table,
            &self.staging,
            self.rows,
            merge::Mode::Upsert { guard: false },
        )
        .await;
        match merged {
            Err(e) => match open(&self.cfg, &self.target).await {
                Ok(probe) => Err(merge::explain(&probe, &self.table, &self.staging, e).await),
                Err(_) => Err(e),
            },
            ok => ok,
        }
    }
}

impl BulkLoader {
    /// Creates one staging table for `table` and fills it from `producers`, each an iterator of
    /// row batches run on its own blocking thread and `COPY` connection, at most
    /// [`streams`](Self::streams) at a time. Calls `progress` after each written batch.
    ///
    /// Staging needs no transaction, so a stage can stage before opening its transaction and
    /// keep that short; [`load_from_producers`](Self::load_from_producers) overlaps staging and merging instead.
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
                cfg: self.cfg.clone(),
                target: self.target.clone(),
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
    pub async fn load_from_producers<R, P>(
        &self,
        conn: &mut AsyncPgConnection,
        table: &BulkTable,
        producers: Vec<P>,
        progress: Option<Progress>,
    ) -> Result<Counts>
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
        let mut total = Counts::default();
        let mut failure = None;
        while let Some(seg) = segments.recv().await {
            let merged = match seg {
                Ok((name, rows)) => {
                    let mode = merge::Mode::Upsert { guard: true };
                    match merge::merge(conn, table, &name, rows, mode).await {
                        Err(e) => Err(merge::explain(&self.holder, table, &name, e).await),
                        ok => ok,
                    }
                }
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
}
