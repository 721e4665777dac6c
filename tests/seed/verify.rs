//! `seed verify` passes on a seeded database and catches rows damaged on purpose (exit 9).

use super::support::{seed, seeded, text};
use groundwork_testdb::TestDb;

#[test]
fn verify_passes_then_catches_damage() {
    let db = seeded();
    let out = text(&seed(&db, &["verify"], 0));
    assert!(out.contains("0 failed"), "{out}");

    // A Linux server turned Windows: the 20/15 split is off.
    db.client()
        .batch_execute(
            "UPDATE assets SET operating_system = 'Windows' WHERE name = 'dem-lnx-web-01'",
        )
        .unwrap();
    let out = text(&seed(&db, &["verify"], 9));
    assert!(
        out.contains("democorp Linux servers") && out.contains("FAILED"),
        "{out}"
    );
    seed(&db, &["--stage", "06_assets", "--quiet"], 0);
    seed(&db, &["verify", "--quiet"], 0);

    // An application moved before the database it depends on.
    db.client()
        .batch_execute(
            "UPDATE wave_assets w SET wave_id = (SELECT id FROM migration_waves v WHERE v.client_account_id = w.client_account_id AND v.wave_number = 0)
             WHERE w.asset_id IN (SELECT d.source_asset_id FROM asset_dependencies d JOIN assets t ON t.id = d.target_asset_id
                                  JOIN wave_assets wt ON wt.asset_id = t.id JOIN migration_waves vt ON vt.id = wt.wave_id
                                  WHERE t.asset_type = 'database' AND vt.wave_number > 0)",
        )
        .unwrap();
    let out = text(&seed(&db, &["verify"], 9));
    assert!(
        out.contains("applications scheduled before a database"),
        "{out}"
    );
}

#[test]
fn verify_on_an_unseeded_database_fails_readably() {
    let db = TestDb::empty();
    let out = text(&seed(&db, &["verify"], 9));
    assert!(out.contains("FAILED"), "{out}");
}

/// The table events of `seed verify --json`, by table name.
fn table_events(
    out: &std::process::Output,
) -> std::collections::BTreeMap<String, serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "table")
        .map(|v| (v["table"].as_str().unwrap_or_default().to_string(), v))
        .collect()
}

/// The report's lines about differing tables (the tables of checks left out).
fn details(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with(['┌', '│', '╞', '├', '└']))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn verify_names_edited_columns_a_missing_row_and_an_extra_row() {
    let db = seeded();
    // updated_at set by hand (the trigger keeps an explicit change), so the report is the
    // same from run to run.
    db.client()
        .batch_execute(
            "UPDATE assets SET hostname = 'rogue-host', cpu_cores = 96, updated_at = '2030-01-01 00:00:00+00'
               WHERE name = 'dem-lnx-web-01';
             DELETE FROM asset_dependencies WHERE id = (SELECT id FROM asset_dependencies ORDER BY id LIMIT 1);
             INSERT INTO tags (id, client_account_id, name, color, description, created_at, updated_at)
               SELECT '00000000-0000-4000-8000-00000000beef', client_account_id, 'stray', color, description, created_at, updated_at
               FROM tags ORDER BY id LIMIT 1;",
        )
        .unwrap();
    let key_hash: String = db
        .client()
        .query_one("SELECT key_hash FROM api_keys", &[])
        .unwrap()
        .get(0);
    let out = seed(&db, &["verify"], 9);
    let report = details(&out);
    insta::assert_snapshot!(report);
    assert!(
        report.contains("repair: `seed --stage 06_assets`"),
        "{report}"
    );
    assert!(!text(&out).contains(&key_hash), "a key hash was printed");

    let json = seed(&db, &["verify", "--json"], 9);
    assert!(!text(&json).contains(&key_hash), "a key hash was printed");
    let events = table_events(&json);
    let assets = &events["assets"];
    assert_eq!(assets["edited"], 1, "{assets}");
    let cols: Vec<&str> = assets["edited_rows"][0]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["column"].as_str().unwrap())
        .collect();
    assert_eq!(cols, ["hostname", "cpu_cores", "updated_at"]);
    assert_eq!(assets["edited_rows"][0]["columns"][1]["expected"], "16");
    assert_eq!(assets["edited_rows"][0]["columns"][1]["actual"], "96");
    assert_eq!(events["asset_dependencies"]["missing"], 1);
    assert_eq!(events["tags"]["extra"], 1);
    assert_eq!(
        events["tags"]["extra_ids"][0],
        "00000000-0000-4000-8000-00000000beef"
    );
    assert_eq!(
        events["tags"]["repair"],
        "seed --stage 01_core_entities --prune"
    );
    assert_eq!(events["technology_catalog"]["ok"], true);

    // The named reruns repair it.
    seed(&db, &["--stage", "06_assets,07_dependencies", "--quiet"], 0);
    seed(
        &db,
        &["--stage", "01_core_entities", "--prune", "--quiet"],
        0,
    );
    seed(&db, &["verify", "--quiet"], 0);
}

#[test]
fn verify_caps_huge_differences_with_counts() {
    let db = seeded();
    db.client()
        .batch_execute("UPDATE assessments SET summary = 'x'")
        .unwrap();
    let out = seed(&db, &["verify"], 9);
    let report = details(&out);
    assert!(
        report.contains("… and 123 more edited row(s) (the first 10 by id are shown)"),
        "{report}"
    );
    assert_eq!(report.matches("  edited  ").count(), 10, "{report}");
}

/// Columns a verify does not compare, because their values are random by design (a key's
/// hash and lookup prefix, a password's salted hash) or bumped by what makes them (a key
/// rotation, a password change). Adding a column here is a decision, not an accident: every
/// other column of every stage-owned table must be compared.
const NOT_COMPARED: &[(&str, &str)] = &[
    ("users", "password_hash"),
    ("users", "updated_at"),
    ("api_keys", "key_hash"),
    ("api_keys", "key_prefix"),
    ("api_keys", "updated_at"),
];

/// New values of the same type, tried in order until one satisfies the table's checks.
fn edits(table: &str, col: &str, data_type: &str, udt: &str) -> Vec<String> {
    let c = format!("\"{col}\"");
    match data_type {
        // Another row's value when a check allows only some (an effort level).
        "text" | "character varying" => vec![
            format!("coalesce({c} || '~', '~')"),
            format!("coalesce({c} || 'x', 'x')"),
            format!(
                "(SELECT x.{c} FROM public.{table} x WHERE x.{c} IS DISTINCT FROM t.{c} ORDER BY x.id LIMIT 1)"
            ),
        ],
        "integer" | "bigint" | "smallint" => vec![
            format!("coalesce({c} + 1, 1)"),
            format!("{c} - 1"),
            format!("{c} + 1000003"),
        ],
        "double precision" | "numeric" | "real" => {
            vec![format!("coalesce({c} / 2, 0.5)"), format!("{c} + 0.001")]
        }
        "boolean" => vec![format!("coalesce(NOT {c}, true)")],
        "uuid" if col == "client_account_id" => vec![format!(
            "(SELECT a.id FROM client_accounts a WHERE a.id <> t.{c} ORDER BY a.slug LIMIT 1)"
        )],
        "uuid" => vec!["gen_random_uuid()".into()],
        "timestamp with time zone" | "timestamp without time zone" => vec![
            format!("coalesce({c} + interval '1 day', '2020-01-01')"),
            format!("{c} + interval '1 second'"),
            format!("{c} - interval '1 second'"),
        ],
        "date" => vec![format!("coalesce({c} + 1, '2020-01-01')")],
        "jsonb" | "json" => vec!["'{\"edited\": true}'".into(), "'[\"edited\"]'".into()],
        "inet" | "cidr" => vec!["'10.254.254.254'".into()],
        "USER-DEFINED" => vec![format!(
            "(SELECT e.enumlabel FROM pg_enum e WHERE e.enumtypid = '{udt}'::regtype AND e.enumlabel::text IS DISTINCT FROM {c}::text ORDER BY e.enumsortorder LIMIT 1)::{udt}"
        )],
        other => panic!("no edit for {col} of type {other}: add one here"),
    }
}

#[test]
fn an_edit_to_any_column_of_any_stage_owned_table_is_reported() {
    let db = seeded();
    let mut client = db.client();
    let mut expected: Vec<(String, String)> = Vec::new();
    let mut ids_edited: Vec<String> = Vec::new();
    // Foreign keys (triggers) off: a column is edited on its own, whatever it references.
    client
        .batch_execute("SET session_replication_role = replica; BEGIN")
        .unwrap();
    for (_, tables) in groundwork_seed::stage_tables() {
        for table in tables {
            // One row takes an edit in every column but `id`; another row gets a new id (a
            // missing and an extra row), so the edits of the first stay visible as edits.
            let rows = client
                .query(
                    &format!("SELECT id::text FROM public.{table} ORDER BY id LIMIT 2"),
                    &[],
                )
                .unwrap();
            let first: String = rows[0].get(0);
            // Not a tenant's: the tenants' ids are the comparison's scope (a tenant with a new id
            // is another tenant, whose rows are not the seed's).
            let second: Option<String> = rows
                .get(1)
                .filter(|_| table != "client_accounts")
                .map(|r| r.get(0));
            let columns = client
                .query(
                    "SELECT column_name::text, data_type::text, udt_name::text FROM information_schema.columns
                     WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position",
                    &[&table],
                )
                .unwrap();
            for c in &columns {
                let (col, ty, udt): (String, String, String) = (c.get(0), c.get(1), c.get(2));
                if col == "id" || NOT_COMPARED.contains(&(table, col.as_str())) {
                    continue;
                }
                // A row where the column holds a value (a check may demand NULL where it is
                // NULL, as for an unfinished flow's completed_at), never the one whose id moves.
                let row: String = client
                    .query(
                        &format!(
                            "SELECT id::text FROM public.{table} WHERE \"{col}\" IS NOT NULL AND id::text <> $1 ORDER BY id LIMIT 1"
                        ),
                        &[&second.clone().unwrap_or_default()],
                    )
                    .unwrap()
                    .first()
                    .map_or(first.clone(), |r| r.get(0));
                let done = edits(table, &col, &ty, &udt).iter().any(|new| {
                    client.batch_execute("SAVEPOINT e").unwrap();
                    let sql =
                        format!("UPDATE public.{table} t SET \"{col}\" = {new} WHERE id = '{row}'");
                    match client.execute(sql.as_str(), &[]) {
                        Ok(1) => {
                            client.batch_execute("RELEASE SAVEPOINT e").unwrap();
                            true
                        }
                        _ => {
                            client.batch_execute("ROLLBACK TO SAVEPOINT e").unwrap();
                            false
                        }
                    }
                });
                // A unique column whose every value is taken (a 6R strategy): the row holding
                // the new value goes first (the row with the new id is kept).
                let done = done
                    || edits(table, &col, &ty, &udt).iter().any(|new| {
                        client.batch_execute("SAVEPOINT e").unwrap();
                        let keep = second.clone().unwrap_or_else(|| row.clone());
                        let sql = format!(
                            "DELETE FROM public.{table} WHERE \"{col}\" = (SELECT {new} FROM public.{table} t WHERE id = '{row}')
                               AND id NOT IN ('{row}', '{keep}');
                             UPDATE public.{table} t SET \"{col}\" = {new} WHERE id = '{row}'"
                        );
                        match client.batch_execute(sql.as_str()) {
                            Ok(()) => {
                                client.batch_execute("RELEASE SAVEPOINT e").unwrap();
                                true
                            }
                            Err(_) => {
                                client.batch_execute("ROLLBACK TO SAVEPOINT e").unwrap();
                                false
                            }
                        }
                    });
                assert!(done, "no edit of {table}.{col} passed the table's checks");
                expected.push((table.to_string(), col));
            }
            if let Some(other) = &second {
                client
                    .batch_execute(&format!(
                        "UPDATE public.{table} SET id = gen_random_uuid() WHERE id = '{other}'"
                    ))
                    .unwrap();
                ids_edited.push(table.to_string());
            }
        }
    }
    client.batch_execute("COMMIT").unwrap();
    let events = table_events(&seed(&db, &["verify", "--json"], 9));
    let mut missed = Vec::new();
    for (table, col) in &expected {
        let e = &events[table.as_str()];
        let reported = e["edited_columns"]
            .as_array()
            .is_some_and(|cols| cols.iter().any(|c| c["column"] == col.as_str()));
        if !reported {
            missed.push(format!("{table}.{col}"));
        }
    }
    assert!(missed.is_empty(), "edits not reported: {missed:?}");
    for table in &ids_edited {
        let e = &events[table.as_str()];
        assert!(
            e["missing"].as_u64() >= Some(1) && e["extra"].as_u64() >= Some(1),
            "{table}: {e}"
        );
    }
    // And nothing else: the columns left out are exactly the documented ones.
    for (table, col) in NOT_COMPARED {
        let e = &events[*table];
        assert!(
            !e["edited_columns"]
                .as_array()
                .is_some_and(|cols| cols.iter().any(|c| c["column"] == *col)),
            "{table}.{col}"
        );
    }
}

#[test]
fn verify_without_scale_uses_the_scale_the_ledger_recorded() {
    let db = TestDb::empty();
    seed(&db, &["--stage", "all", "--scale", "3", "--quiet"], 0);
    let out = seed(&db, &["verify", "--json"], 0);
    let events = table_events(&out);
    let assets = db.count("SELECT count(*) FROM assets");
    assert_eq!(events["assets"]["expected_rows"], assets, "{events:?}");
    assert_eq!(events["assets"]["actual_rows"], assets);
    let out = text(&seed(&db, &["verify"], 0));
    assert!(
        out.contains("verifying with the inputs the seed ledger recorded: --scale 3"),
        "{out}"
    );
    // A flag still wins: at scale 2 the third tenant is not the seed's to check.
    let events = table_events(&seed(&db, &["verify", "--json", "--scale", "2"], 0));
    assert!(events["assets"]["expected_rows"].as_i64() < Some(assets));
}
