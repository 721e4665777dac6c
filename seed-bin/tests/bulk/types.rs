//! Enum, inet, jsonb and NULL values survive the binary COPY and the merge.

use super::*;

const ASSETS: BulkTable = BulkTable {
    table: "assets",
    columns: &[
        "id",
        "client_account_id",
        "engagement_id",
        "name",
        "asset_type",
        "hostname",
        "ip_address",
        "environment",
        "memory_gb",
        "criticality",
        "custom_attributes",
    ],
    conflict_cols: &["client_account_id", "engagement_id", "name"],
    update_cols: &[
        "asset_type",
        "hostname",
        "ip_address",
        "environment",
        "memory_gb",
        "criticality",
        "custom_attributes",
    ],
};

struct Asset {
    name: &'static str,
    kind: domain::AssetType,
    hostname: Option<String>,
    ip: Option<ipnet::IpNet>,
    memory_gb: Option<f64>,
    criticality: Field<'static>,
    attrs: serde_json::Value,
}

impl BulkRow for Asset {
    fn write<'a>(&'a self, out: &mut Vec<Field<'a>>) {
        out.extend([
            Field::from(Uuid::new_v5(&NS, self.name.as_bytes())),
            tenant(1).into(),
            engagement(1).into(),
            self.name.into(),
            self.kind.into(),
            (&self.hostname).into(),
            self.ip.into(),
            "production".into(),
            self.memory_gb.into(),
            self.criticality,
            (&self.attrs).into(),
        ]);
    }
}

fn asset(name: &'static str, ip: Option<&str>, criticality: Field<'static>) -> Asset {
    Asset {
        name,
        kind: domain::AssetType::Server,
        hostname: Some(format!("{name}.corp.local")),
        ip: ip.map(|s| s.parse().expect("valid net")),
        memory_gb: Some(15.5),
        criticality,
        attrs: json!({"rack": "b-12", "tags": ["pci", "tier-1"], "n": 1.25, "nested": {"ok": true}}),
    }
}

#[test]
fn enums_inet_and_jsonb_round_trip() {
    let db = schema_db();
    parents(&db, 1);
    let url = db.url().to_string();
    let rt = runtime();
    let bad = rt.block_on(async {
        let loader = BulkLoader::connect(&url, 1).await.expect("loader");
        let mut conn = diesel_conn(&url).await;
        let rows = vec![
            asset(
                "web-01",
                Some("10.1.2.3/32"),
                domain::CriticalityLevel::Critical.into(),
            ),
            asset(
                "web-02",
                Some("10.1.2.0/24"),
                domain::CriticalityLevel::Low.into(),
            ),
            asset("web-03", Some("fd00::7/128"), Field::Enum("high")),
            Asset {
                hostname: None,
                memory_gb: None,
                ..asset("web-04", None, Field::Enum("medium"))
            },
        ];
        let counts = loader
            .load_from_producers(&mut conn, &ASSETS, vec![std::iter::once(rows)], None)
            .await
            .expect("load");
        assert_eq!(counts.inserted, 4);
        let wrong = vec![asset("web-05", None, Field::Enum("catastrophic"))];
        let err = loader
            .load_from_producers(&mut conn, &ASSETS, vec![std::iter::once(wrong)], None)
            .await
            .expect_err("unknown label");
        loader.close().await.expect("close");
        err.to_string()
    });
    assert!(
        bad.contains("encoding column `criticality`: `catastrophic` is not a label of PostgreSQL enum `criticality_level`"),
        "{bad}"
    );
    assert_eq!(
        db.rows_as_text(
            "SELECT name, asset_type, hostname, ip_address, memory_gb, criticality, custom_attributes \
             FROM assets ORDER BY name"
        ),
        vec![
            r#"(web-01,server,web-01.corp.local,10.1.2.3,15.5,critical,"{""n"": 1.25, ""rack"": ""b-12"", ""tags"": [""pci"", ""tier-1""], ""nested"": {""ok"": true}}")"#,
            r#"(web-02,server,web-02.corp.local,10.1.2.0/24,15.5,low,"{""n"": 1.25, ""rack"": ""b-12"", ""tags"": [""pci"", ""tier-1""], ""nested"": {""ok"": true}}")"#,
            r#"(web-03,server,web-03.corp.local,fd00::7,15.5,high,"{""n"": 1.25, ""rack"": ""b-12"", ""tags"": [""pci"", ""tier-1""], ""nested"": {""ok"": true}}")"#,
            r#"(web-04,server,,,,medium,"{""n"": 1.25, ""rack"": ""b-12"", ""tags"": [""pci"", ""tier-1""], ""nested"": {""ok"": true}}")"#,
        ]
    );
    assert_eq!(
        staging_tables(&db),
        0,
        "a failed COPY drops its staging table"
    );
}
