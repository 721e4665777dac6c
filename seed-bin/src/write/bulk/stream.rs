//! One `COPY` stream: a connection fed by one generator, filling staging segments.

use super::conn::{db_err, open};
use super::describe;
use super::loader::{FIRST_SEGMENT_ROWS, Progress};
use super::{BulkError, BulkRow, BulkTable, Field, Result, ident, ident_list};
use groundwork_migrate::ConnInfo;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_postgres::Client;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;

/// PostgreSQL truncates identifiers longer than this; staging names are kept within it.
const MAX_IDENT: usize = 63;

/// tokio-postgres names a value that failed to encode by its position only; name the column.
pub(super) fn encode_error(table: &BulkTable, e: &tokio_postgres::Error) -> BulkError {
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

/// Where a stream's rows go.
#[derive(Clone)]
pub(super) enum Segments {
    /// One staging table shared by every stream (created beforehand; `BulkLoader::stage`).
    #[cfg(any(test, feature = "bench"))]
    One(String),
    /// A new staging table every this many rows.
    Rotate(u64),
}

/// Names staging tables and records them for `cleanup`.
#[derive(Clone)]
pub(super) struct Naming {
    pub(super) run_id: i32,
    pub(super) seq: Arc<AtomicU32>,
    pub(super) created: Arc<Mutex<Vec<(String, &'static str)>>>,
}

impl Naming {
    pub(super) fn next(&self, table: &'static str) -> String {
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

pub(super) fn create_sql(staging: &str, table: &BulkTable) -> String {
    format!(
        "CREATE UNLOGGED TABLE groundwork.{} (LIKE public.{} INCLUDING DEFAULTS)",
        ident(staging),
        ident(table.table)
    )
}

/// Column types of a load, from the server (enum OIDs differ per database). Read on the
/// stream's own connection: the probe waits for any lock held on the table, and must not hold
/// up the loads of other stages.
pub(super) async fn column_types(client: &Client, table: &BulkTable) -> Result<Vec<Type>> {
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
pub(super) struct Stream {
    pub(super) cfg: ConnInfo,
    pub(super) target: String,
    pub(super) table: BulkTable,
    pub(super) progress: Option<Progress>,
    pub(super) segments: Segments,
    pub(super) naming: Naming,
}

type Writer = std::pin::Pin<Box<BinaryCopyInWriter>>;

impl Stream {
    pub(super) async fn consume<R: BulkRow>(
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
            #[cfg(any(test, feature = "bench"))]
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
            #[cfg(any(test, feature = "bench"))]
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
pub(super) async fn join_all(tasks: &mut JoinSet<()>, table: &BulkTable) -> Result<()> {
    while let Some(joined) = tasks.join_next().await {
        joined.map_err(|e| BulkError::Generator {
            table: table.table.into(),
            cause: e.to_string(),
        })?;
    }
    Ok(())
}
