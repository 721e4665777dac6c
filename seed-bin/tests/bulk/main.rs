//! The bulk loader against a real PostgreSQL (each test gets its own database with the
//! embedded migrations applied), through the seed library's public `bulk` API.

mod foreign_keys;
mod schema;
mod staging;
mod types;

use chrono::{DateTime, TimeZone, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use groundwork_seed::Counts;
use groundwork_seed::bulk::{
    BulkLoader, BulkRow, BulkTable, CHANNEL_BATCHES, Field, Progress, batched, rows, split,
};
use groundwork_testdb::TestDb;
use serde_json::json;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

const NS: Uuid = Uuid::from_u128(0x6275_6c6b_7465_7374_0000_0000_0000_0001);

/// A database with the whole schema, migrations applied by hand: this module's tests need
/// neither the `migrate` binary nor diesel's bookkeeping. (`TestDb::from_template` would be
/// faster, but on main it sends `DROP DATABASE; CREATE DATABASE` as one batch, which
/// PostgreSQL refuses.)
fn schema_db() -> TestDb {
    let db = TestDb::empty();
    let mut c = db.client();
    for m in domain::embedded_migration_files() {
        c.batch_execute(m.up_sql)
            .unwrap_or_else(|e| panic!("{}: {e}", m.dir_name));
    }
    db
}

fn tenant(n: u32) -> Uuid {
    Uuid::new_v5(&NS, format!("tenant/{n}").as_bytes())
}
fn engagement(n: u32) -> Uuid {
    Uuid::new_v5(&NS, format!("engagement/{n}").as_bytes())
}
fn import(n: u32) -> Uuid {
    Uuid::new_v5(&NS, format!("import/{n}").as_bytes())
}

/// Tenants 1..=n with one engagement and one data import each.
fn parents(db: &TestDb, n: u32) {
    let mut c = db.client();
    for t in 1..=n {
        c.execute(
            "INSERT INTO client_accounts (id, slug, name) VALUES ($1, $2, $2)",
            &[&tenant(t), &format!("tenant-{t}")],
        )
        .expect("tenant");
        c.execute(
            "INSERT INTO engagements (id, client_account_id, name) VALUES ($1, $2, 'e')",
            &[&engagement(t), &tenant(t)],
        )
        .expect("engagement");
        c.execute(
            "INSERT INTO data_imports (id, client_account_id, engagement_id, import_type, file_name, file_size_bytes, mime_type) \
             VALUES ($1, $2, $3, 'cmdb_export', 'cmdb.csv', 1, 'text/csv')",
            &[&import(t), &tenant(t), &engagement(t)],
        )
        .expect("import");
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

async fn diesel_conn(db_url: &str) -> AsyncPgConnection {
    AsyncPgConnection::establish(db_url).await.expect("connect")
}

fn staging_tables(db: &TestDb) -> i64 {
    db.count(
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'groundwork' AND tablename LIKE 'stg%'",
    )
}

const RAW: BulkTable = BulkTable {
    table: "raw_import_records",
    columns: &[
        "id",
        "client_account_id",
        "data_import_id",
        "row_number",
        "raw_data",
        "cleansed_data",
        "validation_results",
        "is_valid",
        "is_processed",
        "created_at",
        "updated_at",
    ],
    conflict_cols: &["client_account_id", "data_import_id", "row_number"],
    update_cols: &[
        "raw_data",
        "cleansed_data",
        "validation_results",
        "is_valid",
        "is_processed",
    ],
};

struct Raw {
    id: Uuid,
    tenant: Uuid,
    import: Uuid,
    row_number: i32,
    raw: serde_json::Value,
    cleansed: Option<serde_json::Value>,
    validation: serde_json::Value,
    valid: bool,
    at: DateTime<Utc>,
}

impl BulkRow for Raw {
    fn write<'a>(&'a self, out: &mut Vec<Field<'a>>) {
        out.extend([
            Field::from(self.id),
            self.tenant.into(),
            self.import.into(),
            self.row_number.into(),
            (&self.raw).into(),
            (&self.cleansed).into(),
            (&self.validation).into(),
            self.valid.into(),
            true.into(),
            self.at.into(),
            self.at.into(),
        ]);
    }
}

/// Rows of tenant `t`; `edit` marks every tenth row as changed by a later "version".
fn raw_rows(t: u32, rows: i32, edit: bool) -> impl Iterator<Item = Raw> {
    (1..=rows).map(move |r| {
        let changed = edit && r % 10 == 0;
        Raw {
            id: Uuid::new_v5(&NS, format!("raw/{t}/{r}").as_bytes()),
            tenant: tenant(t),
            import: import(t),
            row_number: r,
            raw: json!({"hostname": format!("host-{t}-{r}"), "cpu": r % 64, "edited": changed}),
            cleansed: (r % 3 != 0).then(|| json!({"name": format!("host-{t}-{r}")})),
            validation: json!({"valid": r % 3 != 0, "errors": []}),
            valid: r % 3 != 0,
            at: Utc
                .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
                .single()
                .expect("valid")
                + chrono::Duration::seconds(r as i64),
        }
    })
}

/// One producer per group of tenants, `batch` rows per batch.
fn producers(
    groups: Vec<Vec<u32>>,
    rows: i32,
    edit: bool,
    batch: usize,
) -> Vec<impl Iterator<Item = Vec<Raw>> + Send + 'static> {
    groups
        .into_iter()
        .map(|g| {
            batched(
                g.into_iter().flat_map(move |t| raw_rows(t, rows, edit)),
                batch,
            )
        })
        .collect()
}

#[test]
fn rerun_is_unchanged_and_edits_are_counted_as_updates() {
    let db = schema_db();
    parents(&db, 4);
    let url = db.url().to_string();
    let rt = runtime();
    let counts = rt.block_on(async {
        let mut loader = BulkLoader::connect(&url, 2).await.expect("loader");
        // Many segments per stream: merges interleave with COPY.
        loader.set_segment_rows(600);
        let mut conn = diesel_conn(&url).await;
        let tenants: Vec<u32> = (1..=4).collect();
        let mut out = Vec::new();
        for edit in [false, false, true, true] {
            let p = producers(split(&tenants, 2), 1_250, edit, 700);
            out.push(
                loader
                    .load_from_producers(&mut conn, &RAW, p, None)
                    .await
                    .expect("load"),
            );
        }
        loader.close().await.expect("close");
        out
    });
    let c = |rows, inserted, updated, unchanged| Counts {
        rows,
        inserted,
        updated,
        unchanged,
        deleted: 0,
    };
    assert_eq!(counts[0], c(5_000, 5_000, 0, 0), "fresh load");
    assert_eq!(counts[1], c(5_000, 0, 0, 5_000), "identical rerun");
    assert_eq!(counts[2], c(5_000, 0, 500, 4_500), "every tenth row edited");
    assert_eq!(counts[3], c(5_000, 0, 0, 5_000), "edited rerun");
    assert_eq!(db.count("SELECT count(*) FROM raw_import_records"), 5_000);
    assert_eq!(
        db.count("SELECT count(*) FROM raw_import_records WHERE (raw_data->>'edited')::bool"),
        500
    );
    assert_eq!(staging_tables(&db), 0, "merge drops the staging table");
}

#[test]
fn a_rolled_back_stage_leaves_the_target_unchanged_and_no_staging_table() {
    let db = schema_db();
    parents(&db, 2);
    let url = db.url().to_string();
    let rt = runtime();
    rt.block_on(async {
        let loader = BulkLoader::connect(&url, 2).await.expect("loader");
        let mut conn = diesel_conn(&url).await;
        let p = producers(vec![vec![1, 2]], 300, false, 100);
        loader
            .load_from_producers(&mut conn, &RAW, p, None)
            .await
            .expect("load");
        loader.close().await.expect("close");
    });
    let before = db.full_dump();
    let dropped = rt.block_on(async {
        let loader = BulkLoader::connect(&url, 2).await.expect("loader");
        let mut conn = diesel_conn(&url).await;
        let result = conn
            .transaction::<(), anyhow::Error, _>(async |c| {
                let p = producers(vec![vec![1], vec![2]], 400, true, 64);
                let counts = loader.load_from_producers(c, &RAW, p, None).await?;
                assert_eq!((counts.inserted, counts.updated), (200, 60));
                anyhow::bail!("a later step of the stage failed")
            })
            .await;
        assert!(result.is_err());
        let dropped = loader.cleanup().await.expect("cleanup");
        loader.close().await.expect("close");
        dropped
    });
    assert_eq!(
        dropped, 2,
        "the rollback restored both streams' staging segments; cleanup drops them"
    );
    assert_eq!(staging_tables(&db), 0);
    assert_eq!(db.full_dump(), before, "the target is unchanged");
}

#[test]
fn batches_stay_bounded_and_parallel_streams_load_the_same_rows() {
    let one = schema_db();
    let many = schema_db();
    parents(&one, 6);
    parents(&many, 6);
    let rt = runtime();
    let tenants: Vec<u32> = (1..=6).collect();

    // One stream, 240 batches of 50 rows, watched for how far the generator runs ahead.
    let produced = Arc::new(AtomicI64::new(0));
    let written = Arc::new(AtomicI64::new(0));
    let ahead = Arc::new(AtomicI64::new(0));
    let progress_rows = Arc::new(AtomicU64::new(0));
    let (url, p, w, a, pr) = (
        one.url().to_string(),
        produced.clone(),
        written.clone(),
        ahead.clone(),
        progress_rows.clone(),
    );
    let gen_batches = batched(
        tenants
            .clone()
            .into_iter()
            .flat_map(|t| raw_rows(t, 2_000, false)),
        50,
    )
    .inspect(move |_| {
        let n = p.fetch_add(1, Ordering::SeqCst) + 1;
        a.fetch_max(n - w.load(Ordering::SeqCst), Ordering::SeqCst);
    });
    let w2 = written.clone();
    let progress: Progress = Arc::new(move |rows| {
        w2.fetch_add(1, Ordering::SeqCst);
        pr.fetch_add(rows, Ordering::SeqCst);
    });
    let c1 = rt.block_on(async {
        let loader = BulkLoader::connect(&url, 1).await.expect("loader");
        let mut conn = diesel_conn(&url).await;
        let c = loader
            .load_from_producers(&mut conn, &RAW, vec![gen_batches], Some(progress))
            .await
            .expect("load");
        loader.close().await.expect("close");
        c
    });
    assert_eq!(c1.inserted, 12_000);
    assert_eq!(produced.load(Ordering::SeqCst), 240);
    assert_eq!(progress_rows.load(Ordering::SeqCst), 12_000);
    let max_ahead = ahead.load(Ordering::SeqCst);
    assert!(
        max_ahead <= (CHANNEL_BATCHES + 2) as i64,
        "the generator ran {max_ahead} batches ahead of the COPY"
    );

    // Six producers over three streams (more producers than streams queue for a permit).
    let url = many.url().to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let c2 = rt.block_on(async {
        let loader = BulkLoader::connect(&url, 3).await.expect("loader");
        let mut conn = diesel_conn(&url).await;
        let s = seen.clone();
        let progress: Progress = Arc::new(move |rows| s.lock().expect("lock").push(rows));
        let c = loader
            .load_from_producers(
                &mut conn,
                &RAW,
                producers(split(&tenants, 6), 2_000, false, 333),
                Some(progress),
            )
            .await
            .expect("load");
        loader.close().await.expect("close");
        c
    });
    assert_eq!(c2, c1);
    assert_eq!(seen.lock().expect("lock").iter().sum::<u64>(), 12_000);
    let q = "SELECT * FROM raw_import_records ORDER BY id";
    assert_eq!(one.rows_as_text(q), many.rows_as_text(q));
}

#[test]
fn rows_from_a_borrowing_iterator_load_like_producers() {
    let a = schema_db();
    let b = schema_db();
    parents(&a, 5);
    parents(&b, 5);
    let rt = runtime();
    let tenants: Vec<u32> = (1..=5).collect();
    let (ua, ub) = (a.url().to_string(), b.url().to_string());
    rt.block_on(async {
        let loader = BulkLoader::connect(&ua, 2).await.expect("loader");
        let mut conn = diesel_conn(&ua).await;
        let p = producers(split(&tenants, 2), 3_000, false, 1_000);
        loader
            .load_from_producers(&mut conn, &RAW, p, None)
            .await
            .expect("load");
        loader.close().await.expect("close");

        let mut loader = BulkLoader::connect(&ub, 3).await.expect("loader");
        loader.set_segment_rows(2_500);
        let mut conn = diesel_conn(&ub).await;
        // Borrows `tenants`: no 'static needed on this path.
        let rows = tenants
            .iter()
            .copied()
            .flat_map(|t| raw_rows(t, 3_000, false));
        let n = Arc::new(AtomicU64::new(0));
        let seen = n.clone();
        let progress: Progress = Arc::new(move |r| {
            seen.fetch_add(r, Ordering::SeqCst);
        });
        let counts = conn
            .transaction::<_, anyhow::Error, _>(async |c| {
                Ok(loader.load_rows(c, &RAW, rows, Some(progress)).await?)
            })
            .await
            .expect("load");
        assert_eq!(counts.inserted, 15_000);
        assert_eq!(n.load(Ordering::SeqCst), 15_000);
        let rows = tenants
            .iter()
            .copied()
            .flat_map(|t| raw_rows(t, 3_000, true));
        let counts = loader
            .load_rows(&mut conn, &RAW, rows, None)
            .await
            .expect("rerun");
        assert_eq!((counts.updated, counts.unchanged), (1_500, 13_500));
        let rows = tenants
            .iter()
            .copied()
            .flat_map(|t| raw_rows(t, 3_000, false));
        loader
            .load_rows(&mut conn, &RAW, rows, None)
            .await
            .expect("back");
        loader.close().await.expect("close");
    });
    // The edit round trip left the trigger's `updated_at` on the edited rows; the rest must
    // match.
    let q = "SELECT to_jsonb(t) - 'updated_at' FROM raw_import_records t ORDER BY id";
    assert_eq!(a.rows_as_text(q), b.rows_as_text(q));
    assert_eq!(staging_tables(&b), 0);
}

/// A load into an empty table inserts the staged rows as they are (no upsert), and must write
/// exactly what the upsert path writes; a duplicate key in such a load is still a stage bug
/// named as one, and a second load into the now non-empty table upserts.
#[test]
fn a_load_into_an_empty_table_writes_what_an_upsert_writes() {
    let fresh = schema_db();
    let upsert = schema_db();
    parents(&fresh, 3);
    parents(&upsert, 3);
    let tenants: Vec<u32> = (1..=3).collect();
    let rows = |edit| {
        tenants
            .iter()
            .copied()
            .flat_map(move |t| raw_rows(t, 1_000, edit))
    };
    // The sync client of the harness cannot run inside the runtime: prepare outside.
    let dup_db = schema_db();
    parents(&dup_db, 1);
    let rt = runtime();
    let (uf, uu) = (fresh.url().to_string(), upsert.url().to_string());
    let (first, second, dup) = rt.block_on(async {
        let mut loader = BulkLoader::connect(&uf, 2).await.expect("loader");
        loader.set_segment_rows(700);
        let mut conn = diesel_conn(&uf).await;
        let first = loader
            .load_rows(&mut conn, &RAW, rows(false), None)
            .await
            .expect("fresh load");
        let second = loader
            .load_rows(&mut conn, &RAW, rows(true), None)
            .await
            .expect("upsert rerun");
        loader.close().await.expect("close");

        // The upsert path from the start: one row is there before the load, so the table
        // is not empty.
        let loader = BulkLoader::connect(&uu, 2).await.expect("loader");
        let mut conn = diesel_conn(&uu).await;
        loader
            .load_rows(&mut conn, &RAW, raw_rows(1, 1, false), None)
            .await
            .expect("one row");
        loader
            .load_rows(&mut conn, &RAW, rows(false), None)
            .await
            .expect("upsert load");
        loader
            .load_rows(&mut conn, &RAW, rows(true), None)
            .await
            .expect("upsert rerun");
        loader.close().await.expect("close");

        let loader = BulkLoader::connect(dup_db.url(), 1).await.expect("loader");
        let mut conn = diesel_conn(dup_db.url()).await;
        let twice = raw_rows(1, 5, false).chain(raw_rows(1, 5, false));
        let dup = conn
            .transaction::<(), anyhow::Error, _>(async |c| {
                loader.load_rows(c, &RAW, twice, None).await?;
                Ok(())
            })
            .await
            .expect_err("duplicate keys in a fresh load");
        loader.close().await.expect("close");
        (first, second, dup.to_string())
    });
    assert_eq!(dup_db.count("SELECT count(*) FROM raw_import_records"), 0);
    assert_eq!(
        (first.rows, first.inserted, first.updated),
        (3_000, 3_000, 0)
    );
    assert_eq!((second.inserted, second.updated), (0, 300), "rerun upserts");
    assert!(
        dup.contains("two rows with the same (client_account_id, data_import_id, row_number)"),
        "{dup}"
    );
    let q =
        "SELECT to_jsonb(t) - 'updated_at' - 'created_at' FROM raw_import_records t ORDER BY id";
    assert_eq!(fresh.rows_as_text(q), upsert.rows_as_text(q));
    assert_eq!(staging_tables(&fresh), 0);
}
