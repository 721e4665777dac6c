//! Micro-benchmark of the bulk loader (see `bench/bulk.sh`, which runs it in release on a fresh
//! database): loads `rows` synthetic `raw_import_records` rows into an empty, fully migrated
//! table (all indexes, constraints, foreign keys and triggers) with
//!
//! * `copy`       – one raw binary COPY straight into the target, one transaction (the floor;
//!   no idempotency, no conflict handling),
//! * `copy-boxed` – the same with a `Box<dyn ToSql>` per field instead of `Field` values,
//! * `insert`     – chunked multi-row `INSERT … ON CONFLICT DO UPDATE` over diesel-async, in one
//!   transaction (the seed's small-stage path),
//! * `bulk-1` / `bulk-K` – the bulk loader with 1 and K streams, staging first, then one merge
//!   in a diesel-async transaction (`stage` + `merge`; the split is printed),
//! * `bulk-K pipelined` – `load_from_producers`: segments merged while the streams keep copying,
//! * `bulk-K rerun` – the same rows again, pipelined: nothing changes.
//!
//! Each method runs `REPEAT` times (default 1) and the fastest run is reported: on a shared
//! machine the minimum is the least noisy estimate.
//!
//! Usage: `cargo run --release -p seed-bin --example bulk_bench -- URL [ROWS] [STREAMS] [REPEAT]`

use chrono::{DateTime, TimeZone, Utc};
use diesel::ExpressionMethods;
use diesel::upsert::excluded;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use domain::models::NewRawImportRecord;
use domain::schema::raw_import_records::dsl as r;
use groundwork_seed::bulk::{self, BulkLoader, BulkRow, Field, rows::RAW_IMPORT_RECORDS};
use serde_json::json;
use std::time::Instant;
use tokio_postgres::NoTls;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

const ROWS_PER_TENANT: usize = 5_000;
const NS: Uuid = Uuid::from_u128(0x6265_6e63_6800_0000_0000_0000_0000_0001);

fn key(kind: &str, n: usize) -> Uuid {
    Uuid::new_v5(&NS, format!("{kind}/{n}").as_bytes())
}

fn record(t: usize, row: usize, at: DateTime<Utc>) -> NewRawImportRecord {
    let host = format!("srv-{t:04}-{row:05}");
    let valid = !row.is_multiple_of(5);
    NewRawImportRecord {
        id: key("raw", t * 1_000_000 + row),
        client_account_id: key("tenant", t),
        data_import_id: key("import", t),
        row_number: row as i32,
        raw_data: json!({
            "hostname": host.to_uppercase(), "ip_address": format!("10.{}.{}.{}", t % 250, row / 250 % 250, row % 250 + 1),
            "os": "Linux", "os_version": "RHEL 8.8", "cpu_cores": (row % 32 + 1).to_string(),
            "memory_mb": ((row % 64 + 1) * 1024).to_string(), "storage_gb": "250",
            "environment": "PRODUCTION", "owner": "ops@example.com", "ci_class": "cmdb_ci_server",
        }),
        cleansed_data: valid.then(|| {
            json!({
                "name": host, "asset_type": "server", "hostname": host, "operating_system": "Linux",
                "cpu_cores": row % 32 + 1, "memory_gb": row % 64 + 1, "environment": "production",
            })
        }),
        validation_results: json!({"valid": valid, "errors": []}),
        is_valid: valid,
        is_processed: true,
        created_at: Some(at),
        updated_at: Some(at),
        asset_id: None,
    }
}

fn rows_of(tenants: Vec<usize>) -> impl Iterator<Item = NewRawImportRecord> + Send + 'static {
    let at = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    tenants
        .into_iter()
        .flat_map(move |t| (1..=ROWS_PER_TENANT).map(move |row| record(t, row, at)))
}

async fn setup(client: &tokio_postgres::Client, tenants: usize) -> anyhow::Result<()> {
    let migrated: bool = client
        .query_one(
            "SELECT to_regclass('public.raw_import_records') IS NOT NULL",
            &[],
        )
        .await?
        .get(0);
    if !migrated {
        for m in domain::embedded_migration_files() {
            client.batch_execute(m.up_sql).await?;
        }
    }
    client
        .batch_execute("TRUNCATE client_accounts CASCADE")
        .await?;
    for t in 0..tenants {
        client
            .execute(
                "INSERT INTO client_accounts (id, slug, name) VALUES ($1, $2, $2)",
                &[&key("tenant", t), &format!("bench-{t}")],
            )
            .await?;
        client
            .execute(
                "INSERT INTO engagements (id, client_account_id, name) VALUES ($1, $2, 'e')",
                &[&key("engagement", t), &key("tenant", t)],
            )
            .await?;
        client
            .execute(
                "INSERT INTO data_imports (id, client_account_id, engagement_id, import_type, file_name, file_size_bytes, mime_type) \
                 VALUES ($1, $2, $3, 'cmdb_export', 'cmdb.csv', 1, 'text/csv')",
                &[&key("import", t), &key("tenant", t), &key("engagement", t)],
            )
            .await?;
    }
    Ok(())
}

async fn raw_copy(url: &str, tenants: usize, boxed: bool) -> anyhow::Result<u64> {
    let (mut client, conn) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(conn);
    let cols = RAW_IMPORT_RECORDS.columns.join(", ");
    let types: Vec<_> = client
        .prepare(&format!("SELECT {cols} FROM raw_import_records LIMIT 0"))
        .await?
        .columns()
        .iter()
        .map(|c| c.type_().clone())
        .collect();
    let tx = client.transaction().await?;
    let sink = tx
        .copy_in(&format!(
            "COPY raw_import_records ({cols}) FROM STDIN (FORMAT binary)"
        ))
        .await?;
    let writer = BinaryCopyInWriter::new(sink, &types);
    tokio::pin!(writer);
    for row in rows_of((0..tenants).collect()) {
        if boxed {
            let b: Vec<Box<dyn ToSql + Sync + Send>> = vec![
                Box::new(row.id),
                Box::new(row.client_account_id),
                Box::new(row.data_import_id),
                Box::new(row.row_number),
                Box::new(row.raw_data),
                Box::new(row.cleansed_data),
                Box::new(row.validation_results),
                Box::new(row.is_valid),
                Box::new(row.is_processed),
                Box::new(row.created_at),
                Box::new(row.updated_at),
                Box::new(row.asset_id),
            ];
            writer.as_mut().write_raw(b).await?;
        } else {
            let mut values: Vec<Field<'_>> = Vec::with_capacity(12);
            row.write(&mut values);
            writer.as_mut().write_raw(values).await?;
        }
    }
    let n = writer.finish().await?;
    tx.commit().await?;
    Ok(n)
}

async fn chunked_insert(url: &str, tenants: usize) -> anyhow::Result<u64> {
    let mut conn = AsyncPgConnection::establish(url).await?;
    // 12 bound columns per row; PostgreSQL caps a statement at 65 535 parameters.
    let per_chunk = 65_535 / RAW_IMPORT_RECORDS.columns.len();
    conn.transaction::<u64, anyhow::Error, _>(async |c| {
        let mut n = 0;
        for chunk in bulk::batched(rows_of((0..tenants).collect()), per_chunk) {
            n += diesel::insert_into(r::raw_import_records)
                .values(&chunk)
                .on_conflict((r::client_account_id, r::data_import_id, r::row_number))
                .do_update()
                .set((
                    r::raw_data.eq(excluded(r::raw_data)),
                    r::cleansed_data.eq(excluded(r::cleansed_data)),
                    r::validation_results.eq(excluded(r::validation_results)),
                    r::is_valid.eq(excluded(r::is_valid)),
                    r::is_processed.eq(excluded(r::is_processed)),
                    r::created_at.eq(excluded(r::created_at)),
                ))
                .execute(c)
                .await? as u64;
        }
        Ok(n)
    })
    .await
}

async fn bulk_load(
    url: &str,
    tenants: usize,
    streams: usize,
    pipelined: bool,
) -> anyhow::Result<String> {
    let loader = BulkLoader::connect(url, streams).await?;
    let mut conn = AsyncPgConnection::establish(url).await?;
    let all: Vec<usize> = (0..tenants).collect();
    let producers: Vec<_> = bulk::split(&all, streams)
        .into_iter()
        .map(|part| bulk::batched(rows_of(part), 10_000))
        .collect();
    let result = conn
        .transaction::<_, anyhow::Error, _>(async |c| {
            if pipelined {
                let counts = loader
                    .load_from_producers(c, &RAW_IMPORT_RECORDS, producers, None)
                    .await?;
                return Ok(format!("{counts:?}"));
            }
            let t0 = Instant::now();
            let staged = loader.stage(&RAW_IMPORT_RECORDS, producers, None).await?;
            let copy_secs = t0.elapsed().as_secs_f64();
            let t1 = Instant::now();
            let counts = staged.merge(c).await?;
            Ok(format!(
                "staging COPY {copy_secs:.2} s + merge {:.2} s; {counts:?}",
                t1.elapsed().as_secs_f64()
            ))
        })
        .await;
    loader.cleanup().await?;
    loader.close().await?;
    result
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: bulk_bench URL [ROWS] [STREAMS]"))?;
    let rows: usize = args.next().map_or(Ok(500_000), |s| s.parse())?;
    // 0 = one per CPU (at most 8).
    let streams: usize = match args.next().map_or(Ok(0), |s| s.parse())? {
        0 => bulk::default_streams(8),
        n => n,
    };
    let repeat: usize = args.next().map_or(Ok(1), |s| s.parse())?;
    let tenants = rows.div_ceil(ROWS_PER_TENANT);
    let total = (tenants * ROWS_PER_TENANT) as f64;
    let (client, conn) = tokio_postgres::connect(&url, NoTls).await?;
    tokio::spawn(conn);
    setup(&client, tenants).await?;
    println!(
        "{} rows of raw_import_records ({tenants} tenants x {ROWS_PER_TENANT}), {streams} bulk streams, {} CPUs",
        total,
        bulk::default_streams(u32::MAX)
    );
    println!(
        "{:<26} {:>9} {:>12} {:>9}",
        "method", "seconds", "rows/s", "vs copy"
    );
    let mut floor = None;
    let methods = [
        "copy",
        "copy-boxed",
        "insert",
        "bulk-1",
        "bulk-K",
        "bulk-K pipelined",
        "bulk-K rerun (unchanged)",
    ];
    for method in methods {
        let mut best: Option<(f64, String)> = None;
        for _ in 0..repeat.max(1) {
            if method != "bulk-K rerun (unchanged)" {
                client.batch_execute("TRUNCATE raw_import_records").await?;
            }
            client.batch_execute("CHECKPOINT").await?;
            let t0 = Instant::now();
            let detail = match method {
                "copy" => format!("{} rows", raw_copy(&url, tenants, false).await?),
                "copy-boxed" => format!("{} rows", raw_copy(&url, tenants, true).await?),
                "insert" => format!("{} rows", chunked_insert(&url, tenants).await?),
                "bulk-1" => bulk_load(&url, tenants, 1, false).await?,
                "bulk-K" => bulk_load(&url, tenants, streams, false).await?,
                _ => bulk_load(&url, tenants, streams, true).await?,
            };
            let secs = t0.elapsed().as_secs_f64();
            if best.as_ref().is_none_or(|(b, _)| secs < *b) {
                best = Some((secs, detail));
            }
        }
        let (secs, detail) = best.unwrap_or_default();
        let floor_secs = *floor.get_or_insert(secs);
        println!(
            "{method:<26} {secs:>9.2} {:>12.0} {:>8.2}x   {detail}",
            total / secs,
            secs / floor_secs
        );
        let n: i64 = client
            .query_one("SELECT count(*) FROM raw_import_records", &[])
            .await?
            .get(0);
        anyhow::ensure!(
            n as f64 == total,
            "{method} left {n} rows, expected {total}"
        );
    }
    Ok(())
}
