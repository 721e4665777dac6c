//! A fresh load's foreign keys: checked by the loader (triggers off) when the role may, by
//! PostgreSQL's per-row triggers otherwise; either way a row without a parent fails the load,
//! a reference into another tenant included, and the table keeps nothing.

use super::*;

/// Tenant 1's rows, the last of which points at `import` of tenant `of`.
fn rows_pointing_at(of: u32) -> Vec<Raw> {
    let mut rows: Vec<Raw> = raw_rows(1, 50, false).collect();
    if let Some(last) = rows.last_mut() {
        last.import = import(of);
    }
    rows
}

/// Loads `rows` into the empty table in one transaction as `url`'s role; the error's text.
fn fresh_load_error(url: &str, rows: Vec<Raw>) -> String {
    runtime().block_on(async {
        let loader = BulkLoader::connect(url, 2).await.expect("loader");
        let mut conn = diesel_conn(url).await;
        let err = conn
            .transaction::<(), anyhow::Error, _>(async |c| {
                loader.load_rows(c, &RAW, rows, None).await?;
                Ok(())
            })
            .await
            .expect_err("a row without a parent");
        loader.close().await.expect("close");
        format!("{err:#}")
    })
}

/// A login role that is not a superuser, owning nothing but allowed to write the tables.
fn plain_role(db: &TestDb, grant_set: bool) -> String {
    let role = format!("{}_writer", db.name());
    let mut c = db.client();
    c.batch_execute(&format!(
        "DROP ROLE IF EXISTS \"{role}\"; CREATE ROLE \"{role}\" LOGIN; \
         GRANT ALL ON SCHEMA public TO \"{role}\"; \
         GRANT ALL ON ALL TABLES IN SCHEMA public TO \"{role}\"; \
         GRANT CREATE ON DATABASE \"{db}\" TO \"{role}\"; \
         CREATE SCHEMA IF NOT EXISTS groundwork; GRANT ALL ON SCHEMA groundwork TO \"{role}\"",
        db = db.name()
    ))
    .expect("role");
    if grant_set {
        c.batch_execute(&format!(
            "GRANT SET ON PARAMETER session_replication_role TO \"{role}\""
        ))
        .expect("grant set");
    }
    role
}

fn drop_role(db: &TestDb, role: &str) {
    let mut c = db.client();
    let _ = c.batch_execute(&format!(
        "REASSIGN OWNED BY \"{role}\" TO CURRENT_USER; DROP OWNED BY \"{role}\"; DROP ROLE \"{role}\""
    ));
}

fn as_role(db: &TestDb, role: &str) -> String {
    let url = db.url();
    let (scheme_user, rest) = url.split_once('@').expect("user@host in the test URL");
    let scheme = scheme_user.split("://").next().unwrap_or("postgres");
    format!("{scheme}://{role}@{rest}")
}

#[test]
fn a_missing_parent_fails_a_fresh_load_that_checks_its_own_keys() {
    let db = schema_db();
    parents(&db, 1);
    let err = fresh_load_error(db.url(), rows_pointing_at(7));
    assert!(
        err.contains(
            "foreign key raw_import_records_data_import_fkey needs (client_account_id, data_import_id)"
        ) && err.contains(&format!("{}, {}", tenant(1), import(7)))
            && err.contains("in public.data_imports, which has no such row"),
        "{err}"
    );
    assert_eq!(db.count("SELECT count(*) FROM raw_import_records"), 0);
    assert_eq!(staging_tables(&db), 0);
}

/// Tenant isolation: tenant 2's import exists, but not for tenant 1, and the composite key
/// says so.
#[test]
fn a_reference_into_another_tenant_fails_a_fresh_load() {
    let db = schema_db();
    parents(&db, 2);
    let err = fresh_load_error(db.url(), rows_pointing_at(2));
    assert!(
        err.contains("raw_import_records_data_import_fkey")
            && err.contains(&format!("{}, {}", tenant(1), import(2))),
        "{err}"
    );
    assert_eq!(db.count("SELECT count(*) FROM raw_import_records"), 0);
}

/// Without the right to turn triggers off, or to lock a parent in SHARE mode, the triggers
/// check every row (the server's own error); granted both, the loader checks (its own error).
#[test]
fn the_role_decides_who_checks_and_both_refuse_the_row() {
    // (SET on the parameter, may only read the parent, the loader's own check)
    for (grant, read_only_parent, ours) in [
        (false, false, false),
        (true, true, false),
        (true, false, true),
    ] {
        let db = schema_db();
        parents(&db, 2);
        let role = plain_role(&db, grant);
        if read_only_parent {
            db.client()
                .batch_execute(&format!(
                    "REVOKE UPDATE, DELETE, TRUNCATE ON data_imports FROM \"{role}\""
                ))
                .expect("revoke");
        }
        let err = fresh_load_error(&as_role(&db, &role), rows_pointing_at(2));
        drop_role(&db, &role);
        assert_eq!(
            err.contains("points at a missing parent"),
            ours,
            "granted {grant}: {err}"
        );
        assert!(
            err.contains("raw_import_records_data_import_fkey"),
            "granted {grant}: {err}"
        );
        assert_eq!(db.count("SELECT count(*) FROM raw_import_records"), 0);
    }
}

/// The loader's own check sees the rows it loaded and nothing else: a clean fresh load passes,
/// and the session's trigger setting is back to normal for what the stage does next.
#[test]
fn a_clean_fresh_load_passes_and_leaves_triggers_on() {
    let db = schema_db();
    parents(&db, 2);
    let url = db.url().to_string();
    let role = runtime().block_on(async {
        let loader = BulkLoader::connect(&url, 2).await.expect("loader");
        let mut conn = diesel_conn(&url).await;
        let role = conn
            .transaction::<String, anyhow::Error, _>(async |c| {
                let rows = raw_rows(1, 500, false).chain(raw_rows(2, 500, false));
                let counts = loader.load_rows(c, &RAW, rows, None).await?;
                assert_eq!(counts.inserted, 1_000);
                #[derive(diesel::QueryableByName)]
                struct Role {
                    #[diesel(sql_type = diesel::sql_types::Text)]
                    r: String,
                }
                let r: Role = diesel_async::RunQueryDsl::get_result(
                    diesel::sql_query("SELECT current_setting('session_replication_role') AS r"),
                    c,
                )
                .await?;
                Ok(r.r)
            })
            .await
            .expect("load");
        loader.close().await.expect("close");
        role
    });
    assert_eq!(role, "origin");
    assert_eq!(db.count("SELECT count(*) FROM raw_import_records"), 1_000);
}
