//! `seed --prune`: deletes the rows of the seeded tenants that the stages would not generate,
//! so the rerun returns exactly the seeded dataset; refused outside dev/test; never touches
//! another tenant's rows.

use super::support::{seed, seeded, text};
use groundwork_testdb::{content_hashes, normalise};

/// What two seeded databases of the public schema legitimately differ in: diesel's
/// bookkeeping (run times) and the API key's random hash and prefix.
const IGNORED: &[(&str, &[&str])] = &[
    ("public.__diesel_schema_migrations", &[]),
    ("public.api_keys", &["key_hash", "key_prefix", "updated_at"]),
];

fn public_hashes(url: &str) -> std::collections::BTreeMap<String, String> {
    content_hashes(url, IGNORED)
        .into_iter()
        .filter(|(k, _)| k.starts_with("public."))
        .collect()
}

/// Rows of the seeded tenants and shared tables a stage never writes, and edits a plain rerun
/// cannot undo (an edited id, an edited natural key).
const DAMAGE: &str = "
INSERT INTO tags (id, client_account_id, name, color, description, created_at, updated_at)
  SELECT '00000000-0000-4000-8000-00000000beef', client_account_id, 'stray', color, description, created_at, updated_at
  FROM tags ORDER BY id LIMIT 1;
INSERT INTO technology_catalog (id, name, version, category, vendor, created_at, updated_at)
  VALUES ('00000000-0000-4000-8000-00000000cafe', 'Stray', '1', 'runtime', 'Nobody', now(), now());
INSERT INTO users (id, external_id, email, full_name, is_active, created_at, updated_at)
  VALUES ('00000000-0000-4000-8000-00000000f00d', 'auth0|stray', 'stray@example.com', 'Stray', true, now(), now());
UPDATE asset_tags SET id = gen_random_uuid(), updated_at = '2030-01-01' WHERE id = (SELECT id FROM asset_tags ORDER BY id LIMIT 1);
UPDATE assets SET name = name || '-renamed', hostname = 'rogue', updated_at = '2030-01-01' WHERE name = 'dem-lnx-web-01';
UPDATE assessments SET score = 1, updated_at = '2030-01-01' WHERE id = (SELECT id FROM assessments ORDER BY id LIMIT 1);
DELETE FROM wave_assets WHERE id = (SELECT id FROM wave_assets ORDER BY id LIMIT 1);
";

#[test]
fn prune_then_rerun_returns_exactly_the_seeded_dataset() {
    let fresh = seeded();
    let db = seeded();
    db.client().batch_execute(DAMAGE).unwrap();
    let report = text(&seed(&db, &["verify"], 9));
    assert!(
        report.contains("repair: `seed --stage all --prune`"),
        "{report}"
    );
    let out = text(&seed(&db, &["--stage", "all", "--prune", "--jobs", "1"], 0));
    assert!(out.contains("tags: 1 stale rows removed"), "{out}");
    assert!(
        out.contains("technology_catalog: 1 stale rows removed"),
        "{out}"
    );
    assert!(out.contains("users: 1 stale rows removed"), "{out}");
    assert_eq!(public_hashes(db.url()), public_hashes(fresh.url()));
    seed(&db, &["verify", "--quiet"], 0);
    // Nothing left to prune: a second run deletes nothing and skips every stage.
    let out = text(&seed(&db, &["--stage", "all", "--prune"], 0));
    assert!(!out.contains("stale rows removed"), "{out}");
    assert_eq!(public_hashes(db.url()), public_hashes(fresh.url()));
}

#[test]
fn prune_never_touches_another_tenants_rows() {
    let db = seeded();
    // A tenant the seed does not generate (made by the application, say), with its own rows,
    // a user of its own, and references to shared rows: a stray technology and a seeded user.
    db.client()
        .batch_execute(
            "INSERT INTO client_accounts (id, slug, name, settings, is_active)
               VALUES ('00000000-0000-4000-8000-000000000a11', 'outsider', 'Outsider Ltd', '{}', true);
             INSERT INTO engagements (id, client_account_id, name, status)
               VALUES ('00000000-0000-4000-8000-000000000a12', '00000000-0000-4000-8000-000000000a11', 'Outsider move', 'active');
             INSERT INTO tags (id, client_account_id, name)
               VALUES ('00000000-0000-4000-8000-000000000a13', '00000000-0000-4000-8000-000000000a11', 'pci');
             INSERT INTO users (id, external_id, email, full_name, is_active)
               VALUES ('00000000-0000-4000-8000-000000000a14', 'auth0|outsider', 'ops@outsider.example', 'Outsider Ops', true);
             INSERT INTO user_account_roles (id, user_id, client_account_id, role, access_level, is_active)
               VALUES ('00000000-0000-4000-8000-000000000a15', '00000000-0000-4000-8000-000000000a14',
                       '00000000-0000-4000-8000-000000000a11', 'CLIENT_ADMIN', 'ADMIN', true);
             INSERT INTO technology_catalog (id, name, version, category, vendor)
               VALUES ('00000000-0000-4000-8000-000000000a16', 'Outsider OS', '1', 'operating_system', 'Outsider');
             INSERT INTO assets (id, client_account_id, engagement_id, technology_id, name, asset_type, environment, custom_attributes)
               VALUES ('00000000-0000-4000-8000-000000000a17', '00000000-0000-4000-8000-000000000a11',
                       '00000000-0000-4000-8000-000000000a12', '00000000-0000-4000-8000-000000000a16',
                       'outsider-app', 'application', 'production', '{}');",
        )
        .unwrap();
    let outsider = |db: &groundwork_testdb::TestDb| {
        db.rows_as_text(
            "SELECT t || ': ' || n FROM (
               SELECT 'accounts' t, count(*) n FROM client_accounts WHERE slug = 'outsider'
               UNION ALL SELECT 'engagements', count(*) FROM engagements WHERE client_account_id = '00000000-0000-4000-8000-000000000a11'
               UNION ALL SELECT 'tags', count(*) FROM tags WHERE client_account_id = '00000000-0000-4000-8000-000000000a11'
               UNION ALL SELECT 'users', count(*) FROM users WHERE id = '00000000-0000-4000-8000-000000000a14'
               UNION ALL SELECT 'roles', count(*) FROM user_account_roles WHERE client_account_id = '00000000-0000-4000-8000-000000000a11'
               UNION ALL SELECT 'technologies', count(*) FROM technology_catalog WHERE id = '00000000-0000-4000-8000-000000000a16'
               UNION ALL SELECT 'assets', count(*) FROM assets WHERE client_account_id = '00000000-0000-4000-8000-000000000a11') x ORDER BY 1",
        )
    };
    let before = outsider(&db);
    assert!(before.iter().all(|r| r.contains(": 1")), "{before:?}");
    // Verify does not count them as the seed's extra rows either.
    seed(&db, &["verify", "--quiet"], 0);
    seed(&db, &["--stage", "all", "--prune", "--force", "--quiet"], 0);
    assert_eq!(outsider(&db), before);
    seed(&db, &["verify", "--quiet"], 0);
}

#[test]
fn prune_is_refused_outside_dev_and_test() {
    let db = seeded();
    db.client()
        .batch_execute("UPDATE groundwork.environment SET env = 'prod'")
        .unwrap();
    db.client()
        .batch_execute("INSERT INTO technology_catalog (id, name, version, category, vendor) VALUES ('00000000-0000-4000-8000-00000000cafe', 'Stray', '1', 'runtime', 'Nobody')")
        .unwrap();
    let before = db.full_dump();
    let out = text(&seed(
        &db,
        &["--env", "prod", "--stage", "00_reference_data", "--prune"],
        4,
    ));
    insta::assert_snapshot!(normalise(&out));
    assert_eq!(
        db.full_dump(),
        before,
        "a refused prune must change nothing"
    );
}
