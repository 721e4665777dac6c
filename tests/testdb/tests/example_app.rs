//! How an application that links `domain` tests against groundwork: one fresh database per
//! test, seeded or just migrated, from plain tokio-postgres, diesel-async and (sync) diesel.
//! docs/testing-with-groundwork.md walks through it; run it with
//! `cargo test -p groundwork-testdb --test example_app`.

use diesel::QueryDsl as _;
use diesel_async::RunQueryDsl as _;
use domain::schema::{assets, client_accounts};
use groundwork_testdb::TestDb;

/// tokio-postgres: the demo dataset, then a write no other test sees.
#[tokio::test]
async fn tokio_postgres_on_the_demo_dataset() {
    let db = TestDb::seeded(1);
    let client = db.tokio_postgres().await;
    let tenants: i64 = client
        .query_one("SELECT count(*) FROM client_accounts", &[])
        .await
        .unwrap()
        .get(0);
    assert!(tenants > 0, "the demo dataset has tenants");
    client
        .batch_execute("DELETE FROM wave_assets")
        .await
        .unwrap();
}

/// diesel-async with the schema of `domain`.
#[tokio::test]
async fn diesel_async_on_the_demo_dataset() {
    let db = TestDb::seeded(1);
    let mut conn = db.diesel_async().await;
    let slugs: Vec<String> = client_accounts::table
        .select(client_accounts::slug)
        .order(client_accounts::slug)
        .load(&mut conn)
        .await
        .unwrap();
    assert!(!slugs.is_empty());
    let n: i64 = assets::table.count().get_result(&mut conn).await.unwrap();
    assert!(n > 0);
}

/// Sync diesel (no libpq: diesel-async's wrapper) on a migrated, empty database.
#[test]
fn sync_diesel_on_a_migrated_database() {
    let db = TestDb::migrated();
    let mut conn = db.diesel();
    let n: i64 = diesel::RunQueryDsl::get_result(assets::table.count(), &mut conn).unwrap();
    assert_eq!(n, 0, "a migrated database has the schema and no rows");
}

/// Any other client: the URL (here the sync `postgres` crate).
#[test]
fn any_client_through_the_url() {
    let db = TestDb::migrated();
    let mut client = postgres::Client::connect(db.url(), postgres::NoTls).unwrap();
    let stamp: String = client
        .query_one("SELECT env FROM groundwork.environment", &[])
        .unwrap()
        .get(0);
    assert_eq!(stamp, "test", "the kit's databases are stamped `test`");
}
