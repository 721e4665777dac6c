//! `seed add`: factories on top of the demo dataset. A factory's rows are deterministic (two
//! databases get the same rows, a rerun writes nothing), belong to their tenant only, leave
//! every seeded tenant's rows as they were, and follow the shape asked for.

use super::support::{dataset, seed, text};
use groundwork_testdb::TestDb;

/// Rows of `table` that do not belong to `slug`'s tenant, as sorted JSON text.
fn others(db: &TestDb, table: &str, slug: &str) -> Vec<String> {
    let sql = format!(
        "SELECT to_jsonb(x)::text FROM public.{table} x \
         WHERE x.client_account_id IS DISTINCT FROM (SELECT id FROM client_accounts WHERE slug = '{slug}') \
         ORDER BY 1"
    );
    db.client()
        .query(&sql, &[])
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect()
}

fn count(db: &TestDb, sql: &str) -> i64 {
    db.count(sql)
}

const TENANT_TABLES: &[&str] = &[
    "engagements",
    "tags",
    "user_account_roles",
    "discovery_flows",
    "assets",
    "asset_tags",
    "asset_dependencies",
    "assessments",
    "migration_waves",
    "wave_assets",
];

#[test]
fn an_added_tenant_is_deterministic_isolated_and_shaped_as_asked() {
    let (a, b) = (TestDb::empty(), TestDb::empty());
    for db in [&a, &b] {
        seed(db, &["--stage", "all", "--quiet"], 0);
    }
    let before: Vec<Vec<String>> = TENANT_TABLES
        .iter()
        .map(|t| others(&a, t, "acme-retail"))
        .collect();
    let add = [
        "add",
        "tenant",
        "acme-retail",
        "--assets",
        "400",
        "--graph",
        "tree",
    ];
    let out = text(&seed(&a, &add, 0));
    assert!(out.contains("tenant acme-retail"), "{out}");
    seed(&b, &add, 0);
    assert_eq!(dataset(&a), dataset(&b), "same inputs, same rows");

    // Nothing of another tenant changed.
    let after: Vec<Vec<String>> = TENANT_TABLES
        .iter()
        .map(|t| others(&a, t, "acme-retail"))
        .collect();
    assert_eq!(
        before, after,
        "a factory must not touch other tenants' rows"
    );

    let tenant = "(SELECT id FROM client_accounts WHERE slug = 'acme-retail')";
    assert_eq!(
        count(
            &a,
            &format!("SELECT count(*) FROM assets WHERE client_account_id = {tenant}")
        ),
        400
    );
    // A binary tree over 400 assets: 399 edges, each asset but the root depends on one parent.
    assert_eq!(
        count(
            &a,
            &format!("SELECT count(*) FROM asset_dependencies WHERE client_account_id = {tenant}")
        ),
        399
    );
    assert_eq!(
        count(
            &a,
            &format!(
                "SELECT count(DISTINCT source_asset_id) FROM asset_dependencies WHERE client_account_id = {tenant}"
            )
        ),
        399
    );
    // Every edge stays inside one tenant (the composite keys enforce it; this proves the rows
    // were generated that way rather than rejected).
    assert_eq!(
        count(
            &a,
            "SELECT count(*) FROM asset_dependencies d JOIN assets s ON s.id = d.source_asset_id JOIN assets t ON t.id = d.target_asset_id WHERE s.client_account_id <> d.client_account_id OR t.client_account_id <> d.client_account_id"
        ),
        0
    );
    // Distinct host addresses per tenant even past one subnet's worth of servers.
    assert_eq!(
        count(
            &a,
            &format!(
                "SELECT count(*) - count(DISTINCT ip_address) FROM assets WHERE client_account_id = {tenant} AND ip_address IS NOT NULL"
            )
        ),
        0
    );
    // The factory tenant gets no API key: nobody would see its plaintext.
    assert_eq!(
        count(
            &a,
            &format!("SELECT count(*) FROM api_keys WHERE client_account_id = {tenant}")
        ),
        0
    );

    // A rerun with the same flags writes nothing.
    let rows = dataset(&a);
    let again = text(&seed(&a, &add, 0));
    assert!(again.contains("0 inserted, 0 updated"), "{again}");
    assert_eq!(dataset(&a), rows);

    // The seeded dataset reruns as before: its stages leave the factory's rows alone.
    seed(&a, &["--stage", "all", "--quiet"], 0);
    assert_eq!(dataset(&a), rows);
}

#[test]
fn a_stuck_flow_is_added_to_a_seeded_tenant() {
    let db = TestDb::empty();
    seed(&db, &["--stage", "all", "--quiet"], 0);
    let flows = "SELECT count(*) FROM discovery_flows";
    let n = count(&db, flows);
    seed(
        &db,
        &[
            "add",
            "flow",
            "--tenant",
            "democorp",
            "--status",
            "paused",
            "--phase",
            "field_mapping",
        ],
        0,
    );
    assert_eq!(count(&db, flows), n + 1);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM discovery_flows f JOIN client_accounts a ON a.id = f.client_account_id \
                    WHERE a.slug = 'democorp' AND f.status = 'paused' AND f.current_phase = 'field_mapping' AND f.completed_at IS NULL"
        ),
        1
    );
    // Idempotent like every stage.
    seed(
        &db,
        &[
            "add",
            "flow",
            "--tenant",
            "democorp",
            "--status",
            "paused",
            "--phase",
            "field_mapping",
        ],
        0,
    );
    assert_eq!(count(&db, flows), n + 1);
}

#[test]
fn graph_shapes_have_their_edge_counts() {
    let db = TestDb::empty();
    seed(&db, &["--stage", "all", "--quiet"], 0);
    for (slug, graph, edges) in [
        ("chain-co", "chain", 29),
        ("star-co", "star", 29),
        ("none-co", "none", 0),
    ] {
        seed(
            &db,
            &[
                "add", "tenant", slug, "--assets", "30", "--graph", graph, "--quiet",
            ],
            0,
        );
        let n = count(
            &db,
            &format!(
                "SELECT count(*) FROM asset_dependencies d JOIN client_accounts a ON a.id = d.client_account_id WHERE a.slug = '{slug}'"
            ),
        );
        assert_eq!(n, edges, "{graph}");
    }
    // A star: every edge points at one hub.
    assert_eq!(
        count(
            &db,
            "SELECT count(DISTINCT target_asset_id) FROM asset_dependencies d JOIN client_accounts a ON a.id = d.client_account_id WHERE a.slug = 'star-co'"
        ),
        1
    );
}
