//! Every model reads its table from a real, migrated PostgreSQL, the insert
//! models write, and a cross-tenant reference is refused by the database.
//!
//! Needs a PostgreSQL server: `TEST_DATABASE_URL` (a server URL; any database
//! name in it is replaced), else `postgres://postgres@127.0.0.1:5432`. The test
//! creates its own database and drops it at the end.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::MigrationHarness;
use domain::models::*;
use domain::schema::*;
use domain::{AssetType, CriticalityLevel, MIGRATIONS};
use uuid::Uuid;

type Conn = AsyncConnectionWrapper<AsyncPgConnection>;

struct ScratchDb {
    server: String,
    name: String,
}

impl ScratchDb {
    fn create() -> Self {
        let url = std::env::var("TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
        let url = url.split('?').next().unwrap_or_default().to_owned();
        let after_scheme = url.find("://").map_or(0, |i| i + 3);
        let server = match url[after_scheme..].find('/') {
            Some(i) => url[..after_scheme + i].to_owned(),
            None => url,
        };
        let name = format!(
            "domain_models_{}_{}",
            std::process::id(),
            Uuid::new_v4().simple()
        );
        let mut admin = Conn::establish(&format!("{server}/postgres"))
            .expect("PostgreSQL must be running; set TEST_DATABASE_URL to a server URL");
        diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .expect("create scratch database");
        Self { server, name }
    }

    fn connect(&self) -> Conn {
        Conn::establish(&format!("{}/{}", self.server, self.name))
            .expect("connect to scratch database")
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = Conn::establish(&format!("{}/postgres", self.server)) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin);
        }
    }
}

const FIXTURE: &str = r#"
INSERT INTO client_accounts (id, slug, name, industry, company_size) VALUES
  ('00000000-0000-0000-0000-00000000000a', 'democorp', 'Democorp', 'Retail', 'enterprise'),
  ('00000000-0000-0000-0000-00000000000b', 'othercorp', 'Othercorp', 'Finance', 'large');
INSERT INTO engagements (id, client_account_id, name, status, start_date, target_completion_date) VALUES
  ('00000000-0000-0000-0000-0000000000ea', '00000000-0000-0000-0000-00000000000a', 'Democorp Cloud Migration', 'active', '2026-01-01', '2026-12-31'),
  ('00000000-0000-0000-0000-0000000000eb', '00000000-0000-0000-0000-00000000000b', 'Othercorp Migration', 'planning', NULL, NULL);
INSERT INTO users (id, external_id, email, full_name) VALUES
  ('00000000-0000-0000-0000-0000000000c1', 'auth0|demo', 'demo@democorp.com', 'Demo User');
INSERT INTO user_account_roles (user_id, client_account_id, role, access_level) VALUES
  ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-00000000000a', 'ENGAGEMENT_MANAGER', 'READ_WRITE');
INSERT INTO api_keys (client_account_id, created_by_user_id, name, key_prefix, key_hash, permissions) VALUES
  ('00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-0000000000c1', 'test-agent', 'gw_abc123', '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA', '["read","write","admin"]');
INSERT INTO tags (id, client_account_id, name, color) VALUES
  ('00000000-0000-0000-0000-0000000000f1', '00000000-0000-0000-0000-00000000000a', 'pci', '#ff0000');
INSERT INTO sixr_strategies (strategy, name, description, typical_effort, typical_duration_weeks, display_order) VALUES
  ('rehost', 'Rehost', 'Lift and shift', 'low', 4, 1);
INSERT INTO technology_catalog (id, name, version, category, vendor, end_of_support) VALUES
  ('00000000-0000-0000-0000-0000000000d1', 'Java', '8', 'runtime', 'Oracle', '2030-12-31');
INSERT INTO discovery_flows (id, client_account_id, engagement_id, name, status, current_phase, error_details) VALUES
  ('00000000-0000-0000-0000-0000000000a0', '00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-0000000000ea', 'flow', 'failed', 'data_import', '{"error":"x"}');
INSERT INTO data_imports (id, client_account_id, engagement_id, discovery_flow_id, import_type, file_name, file_size_bytes, mime_type, status, total_records, processed_records) VALUES
  ('00000000-0000-0000-0000-0000000000b0', '00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-0000000000ea', '00000000-0000-0000-0000-0000000000a0', 'cmdb_export', 'cmdb.csv', 2048, 'text/csv', 'completed', 2, 2);
INSERT INTO assets (id, client_account_id, engagement_id, technology_id, name, asset_type, hostname, ip_address, environment, cpu_cores, memory_gb, storage_gb, criticality) VALUES
  ('00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-0000000000ea', '00000000-0000-0000-0000-0000000000d1', 'app-01', 'application', NULL, NULL, 'production', NULL, NULL, NULL, 'high'),
  ('00000000-0000-0000-0000-0000000000a2', '00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-0000000000ea', NULL, 'srv-01', 'server', 'srv-01.democorp.local', '10.0.1.10', 'production', 8, 32, 500.5, 'medium');
INSERT INTO raw_import_records (client_account_id, data_import_id, row_number, raw_data, is_valid, asset_id) VALUES
  ('00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-0000000000b0', 1, '{"hostname":"srv-01"}', true, '00000000-0000-0000-0000-0000000000a2');
INSERT INTO import_field_mappings (client_account_id, data_import_id, source_field, target_field, confidence_score, status, transformation_rules) VALUES
  ('00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-0000000000b0', 'Host', 'hostname', 0.95, 'approved', '["lowercase"]');
INSERT INTO asset_tags (client_account_id, asset_id, tag_id) VALUES
  ('00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-0000000000f1');
INSERT INTO asset_dependencies (client_account_id, source_asset_id, target_asset_id, dependency_type, protocol, port) VALUES
  ('00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-0000000000a2', 'hosting', 'tcp', 8080);
INSERT INTO assessments (client_account_id, asset_id, assessment_type, score, risk_level, recommended_strategy, findings) VALUES
  ('00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-0000000000a1', 'technical', 72, 'medium', 'replatform', '[{"finding":"Java 8"}]');
INSERT INTO migration_waves (id, client_account_id, engagement_id, wave_number, name, is_pilot, planned_start_date, planned_end_date) VALUES
  ('00000000-0000-0000-0000-0000000000e0', '00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-0000000000ea', 0, 'Pilot', true, '2026-03-01', '2026-03-31');
INSERT INTO wave_assets (client_account_id, wave_id, asset_id, strategy) VALUES
  ('00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-0000000000e0', '00000000-0000-0000-0000-0000000000a1', 'replatform');
"#;

fn uuid(last: &str) -> Uuid {
    format!("00000000-0000-0000-0000-{last:0>12}")
        .parse()
        .expect("valid uuid")
}

#[test]
fn models_read_write_and_tenant_isolation() {
    let db = ScratchDb::create();
    let mut conn = db.connect();
    conn.run_pending_migrations(MIGRATIONS)
        .expect("migrations apply");
    diesel::sql_query("BEGIN")
        .execute(&mut conn)
        .expect("begin");
    conn.batch_execute(FIXTURE).expect("fixture loads");
    diesel::sql_query("COMMIT")
        .execute(&mut conn)
        .expect("commit");

    macro_rules! loads_one {
        ($table:ident, $model:ty) => {{
            let rows: Vec<$model> = $table::table
                .select(<$model>::as_select())
                .load(&mut conn)
                .expect(stringify!($table));
            assert!(!rows.is_empty(), "{} is empty", stringify!($table));
            rows
        }};
    }
    loads_one!(client_accounts, ClientAccount);
    loads_one!(engagements, Engagement);
    loads_one!(users, User);
    loads_one!(user_account_roles, UserAccountRole);
    loads_one!(api_keys, ApiKey);
    loads_one!(tags, Tag);
    loads_one!(sixr_strategies, SixrStrategyDefinition);
    loads_one!(technology_catalog, TechnologyCatalogEntry);
    loads_one!(discovery_flows, DiscoveryFlow);
    loads_one!(data_imports, DataImport);
    loads_one!(raw_import_records, RawImportRecord);
    loads_one!(import_field_mappings, ImportFieldMapping);
    loads_one!(asset_tags, AssetTag);
    loads_one!(asset_dependencies, AssetDependency);
    loads_one!(assessments, Assessment);
    loads_one!(migration_waves, MigrationWave);
    loads_one!(wave_assets, WaveAsset);
    let assets_read = loads_one!(assets, Asset);
    let server = assets_read
        .iter()
        .find(|a| a.name == "srv-01")
        .expect("srv-01");
    assert_eq!(server.asset_type, AssetType::Server);
    assert_eq!(
        server.ip_address.map(|ip| ip.to_string()).as_deref(),
        Some("10.0.1.10/32")
    );
    assert_eq!(server.storage_gb, Some(500.5));

    let new_asset = NewAsset {
        id: uuid("a3"),
        client_account_id: uuid("a"),
        engagement_id: uuid("ea"),
        discovery_flow_id: None,
        technology_id: None,
        name: "db-01".to_owned(),
        asset_type: AssetType::Database,
        hostname: Some("db-01".to_owned()),
        ip_address: Some("10.0.2.5/32".parse().expect("ip")),
        operating_system: Some("Oracle Linux".to_owned()),
        os_version: Some("8".to_owned()),
        technology: Some("Oracle 19c".to_owned()),
        environment: "production".to_owned(),
        cpu_cores: Some(16),
        memory_gb: Some(128.0),
        storage_gb: Some(2048.0),
        business_owner: None,
        technical_owner: None,
        criticality: CriticalityLevel::Critical,
        description: None,
        custom_attributes: serde_json::json!({}),
        created_at: None,
        updated_at: None,
    };
    diesel::insert_into(assets::table)
        .values(&new_asset)
        .execute(&mut conn)
        .expect("insert asset");

    let edge = |target: Uuid| NewAssetDependency {
        id: Uuid::new_v4(),
        client_account_id: uuid("a"),
        source_asset_id: uuid("a1"),
        target_asset_id: target,
        dependency_type: "data".to_owned(),
        protocol: None,
        port: Some(1521),
        confidence_score: 0.9,
        is_critical: true,
        description: None,
        created_at: None,
        updated_at: None,
    };
    diesel::insert_into(asset_dependencies::table)
        .values(&edge(uuid("a3")))
        .execute(&mut conn)
        .expect("same-tenant edge");

    // An asset of the other tenant, then an edge from Democorp's app to it.
    conn.batch_execute(
        "INSERT INTO assets (id, client_account_id, engagement_id, name, asset_type, environment) VALUES \
         ('00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-00000000000b', \
          '00000000-0000-0000-0000-0000000000eb', 'other-app', 'application', 'production')",
    )
    .expect("other tenant's asset");
    let err = diesel::insert_into(asset_dependencies::table)
        .values(&edge(uuid("b1")))
        .execute(&mut conn)
        .expect_err("a cross-tenant edge must be refused");
    match err {
        DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info) => {
            assert_eq!(
                info.constraint_name(),
                Some("asset_dependencies_target_fkey")
            );
        }
        other => panic!("expected a foreign-key violation, got {other:?}"),
    }
    let self_edge = diesel::insert_into(asset_dependencies::table)
        .values(&edge(uuid("a1")))
        .execute(&mut conn)
        .expect_err("a self-edge must be refused");
    assert!(matches!(
        self_edge,
        DieselError::DatabaseError(DatabaseErrorKind::CheckViolation, _)
    ));
}
