//! The schema itself enforces tenant isolation: a row of one tenant can
//! never point at a row of another (composite foreign keys), and the graph
//! rules hold (no self-dependency).

use groundwork_testdb::TestDb;

/// Two tenants, each with an engagement and one asset.
const FIXTURE: &str = "
INSERT INTO client_accounts (id, slug, name) VALUES
  ('00000000-0000-0000-0000-00000000000a', 'tenant-a', 'Tenant A'),
  ('00000000-0000-0000-0000-00000000000b', 'tenant-b', 'Tenant B');
INSERT INTO engagements (id, client_account_id, name) VALUES
  ('00000000-0000-0000-0000-0000000000ea', '00000000-0000-0000-0000-00000000000a', 'A migration'),
  ('00000000-0000-0000-0000-0000000000eb', '00000000-0000-0000-0000-00000000000b', 'B migration');
INSERT INTO assets (id, client_account_id, engagement_id, name, asset_type, environment) VALUES
  ('00000000-0000-0000-0000-0000000001a1', '00000000-0000-0000-0000-00000000000a',
   '00000000-0000-0000-0000-0000000000ea', 'a-app', 'application', 'production'),
  ('00000000-0000-0000-0000-0000000001a2', '00000000-0000-0000-0000-00000000000a',
   '00000000-0000-0000-0000-0000000000ea', 'a-db', 'database', 'production'),
  ('00000000-0000-0000-0000-0000000001b1', '00000000-0000-0000-0000-00000000000b',
   '00000000-0000-0000-0000-0000000000eb', 'b-db', 'database', 'production');
";

fn sqlstate(err: &postgres::Error) -> Option<String> {
    err.code().map(|c| c.code().to_owned())
}

#[test]
fn a_dependency_on_another_tenants_asset_is_rejected_by_postgres() {
    let db = TestDb::migrated();
    let mut c = db.client();
    c.batch_execute(FIXTURE).unwrap();

    // Same tenant: accepted.
    c.batch_execute(
        "INSERT INTO asset_dependencies (client_account_id, source_asset_id, target_asset_id, dependency_type)
         VALUES ('00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-0000000001a1',
                 '00000000-0000-0000-0000-0000000001a2', 'data')",
    )
    .unwrap();

    // Tenant A's application pointing at tenant B's database: refused.
    let err = c
        .batch_execute(
            "INSERT INTO asset_dependencies (client_account_id, source_asset_id, target_asset_id, dependency_type)
             VALUES ('00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-0000000001a1',
                     '00000000-0000-0000-0000-0000000001b1', 'data')",
        )
        .expect_err("a cross-tenant edge must be refused");
    assert_eq!(sqlstate(&err).as_deref(), Some("23503"), "{err}");

    // Claiming to be tenant B does not help either: the source is A's.
    let err = c
        .batch_execute(
            "INSERT INTO asset_dependencies (client_account_id, source_asset_id, target_asset_id, dependency_type)
             VALUES ('00000000-0000-0000-0000-00000000000b', '00000000-0000-0000-0000-0000000001a1',
                     '00000000-0000-0000-0000-0000000001b1', 'data')",
        )
        .expect_err("a cross-tenant edge must be refused");
    assert_eq!(sqlstate(&err).as_deref(), Some("23503"), "{err}");
    assert_eq!(db.count("SELECT count(*) FROM asset_dependencies"), 1);
}

#[test]
fn an_asset_cannot_join_another_tenants_engagement() {
    let db = TestDb::migrated();
    let mut c = db.client();
    c.batch_execute(FIXTURE).unwrap();
    let err = c
        .batch_execute(
            "INSERT INTO assets (client_account_id, engagement_id, name, asset_type, environment)
             VALUES ('00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-0000000000eb',
                     'sneaky', 'server', 'production')",
        )
        .expect_err("an asset in another tenant's engagement must be refused");
    assert_eq!(sqlstate(&err).as_deref(), Some("23503"), "{err}");
}

#[test]
fn an_asset_cannot_depend_on_itself() {
    let db = TestDb::migrated();
    let mut c = db.client();
    c.batch_execute(FIXTURE).unwrap();
    let err = c
        .batch_execute(
            "INSERT INTO asset_dependencies (client_account_id, source_asset_id, target_asset_id, dependency_type)
             VALUES ('00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-0000000001a1',
                     '00000000-0000-0000-0000-0000000001a1', 'runtime')",
        )
        .expect_err("a self-edge must be refused");
    assert_eq!(sqlstate(&err).as_deref(), Some("23514"), "{err}");
}

#[test]
fn every_foreign_key_between_tenant_tables_includes_the_tenant() {
    let db = TestDb::migrated();
    // Foreign keys from a tenant-owned table (one with client_account_id)
    // to another tenant-owned table must be composite and include it.
    let offenders = db.rows_as_text(
        "SELECT c.conrelid::regclass::text || ' -> ' || c.confrelid::regclass::text
           FROM pg_constraint c
          WHERE c.contype = 'f'
            AND c.connamespace = 'public'::regnamespace
            AND c.confrelid <> 'client_accounts'::regclass
            AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.conrelid AND a.attname = 'client_account_id')
            AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.confrelid AND a.attname = 'client_account_id')
            AND NOT EXISTS (
                SELECT 1 FROM unnest(c.conkey) k
                  JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k
                 WHERE a.attname = 'client_account_id')
          ORDER BY 1",
    );
    assert!(
        offenders.is_empty(),
        "foreign keys between tenant tables without client_account_id: {offenders:?}"
    );
}
