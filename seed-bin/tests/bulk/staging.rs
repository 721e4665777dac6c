//! Staging tables: stale ones are swept, live ones kept, and a stage's bugs are errors.

use super::*;

#[test]
fn stale_staging_tables_are_swept_and_live_ones_kept() {
    let db = schema_db();
    parents(&db, 1);
    let url = db.url().to_string();
    let rt = runtime();
    rt.block_on(async {
        let live = BulkLoader::connect(&url, 1).await.expect("loader");
        let staged = live
            .stage(&RAW, producers(vec![vec![1]], 10, false, 5), None)
            .await
            .expect("stage");
        // A table left by a loader whose connection is gone (no session holds its lock).
        let dead = 2_000_000_000;
        let stale = format!("stg_{dead}_0_raw_import_records");
        let (c, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        c.batch_execute(&format!(
            "CREATE UNLOGGED TABLE groundwork.\"{stale}\" (LIKE public.raw_import_records)"
        ))
        .await
        .expect("create");
        let other = BulkLoader::connect(&url, 1).await.expect("second loader");
        let left: Vec<String> = c
            .query(
                "SELECT tablename::text FROM pg_tables WHERE schemaname = 'groundwork' ORDER BY 1",
                &[],
            )
            .await
            .expect("list")
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(
            left,
            vec![staged.staging_table().to_string()],
            "stale dropped, live kept"
        );
        assert_eq!(other.sweep().await.expect("sweep"), 0);
        let mut diesel = diesel_conn(&url).await;
        assert_eq!(staged.merge(&mut diesel).await.expect("merge").inserted, 10);
        other.close().await.expect("close");
        live.close().await.expect("close");
    });
    assert_eq!(staging_tables(&db), 0);
}

struct Short;
impl BulkRow for Short {
    fn write<'a>(&'a self, out: &mut Vec<Field<'a>>) {
        out.push(Field::Null);
    }
}

#[test]
fn stage_bugs_are_errors_that_say_so() {
    let db = schema_db();
    parents(&db, 1);
    let url = db.url().to_string();
    let rt = runtime();
    let (shape, dup) = rt.block_on(async {
        let loader = BulkLoader::connect(&url, 1).await.expect("loader");
        let mut conn = diesel_conn(&url).await;
        let shape = loader
            .load_from_producers(&mut conn, &RAW, vec![std::iter::once(vec![Short])], None)
            .await
            .expect_err("short row");
        let twice = producers(vec![vec![1], vec![1]], 5, false, 5);
        // The guard works inside the stage's transaction, which is where the runner merges.
        let dup = conn
            .transaction::<(), anyhow::Error, _>(async |c| {
                loader.load_from_producers(c, &RAW, twice, None).await?;
                Ok(())
            })
            .await
            .expect_err("duplicate keys in two segments");
        let twice = producers(vec![vec![1], vec![1]], 5, false, 5);
        let staged = loader.stage(&RAW, twice, None).await.expect("stage");
        let dup_one = staged
            .merge(&mut conn)
            .await
            .expect_err("duplicate keys in one staging table");
        assert!(
            dup_one.to_string().contains("two rows with the same"),
            "{dup_one}"
        );
        loader.cleanup().await.expect("cleanup");
        loader.close().await.expect("close");
        (shape.to_string(), dup.to_string())
    });
    assert!(
        shape.contains("has 1 values but the load declares 11 columns"),
        "{shape}"
    );
    assert!(
        dup.contains("two rows with the same (client_account_id, data_import_id, row_number)"),
        "{dup}"
    );
    assert_eq!(db.count("SELECT count(*) FROM raw_import_records"), 0);
    assert_eq!(staging_tables(&db), 0);
}
