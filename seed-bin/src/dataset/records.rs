//! The source rows of a demo-shaped tenant's three imports, as received: valid rows describe
//! the planned assets (several sources may describe one asset), invalid rows carry realistic
//! data quality problems.
//!
//! Per demo-shaped tenant: CMDB export 50 valid + 18 invalid, cloud inventory 45 valid + 5
//! invalid, manual list 30 valid + 8 invalid = 156 rows, 125 valid, 31 invalid.

use super::assets::{PlannedAsset, assets};
use super::{Dataset, Tenant, stage_id};
use crate::ids::id;
use domain::enums::AssetType;
use rand::RngExt;
use rand::seq::SliceRandom;
use serde_json::{Value, json};
use std::collections::HashMap;
use uuid::Uuid;

/// One planned source row.
#[derive(Debug, Clone)]
pub struct PlannedRecord {
    pub id: Uuid,
    pub row_number: i32,
    pub raw: Value,
    pub cleansed: Option<Value>,
    pub validation: Value,
    /// The asset a valid row was merged into.
    pub asset_id: Option<Uuid>,
}

/// The rows of one import, in file order.
#[derive(Debug, Clone)]
pub struct PlannedImportRows {
    pub key: &'static str,
    pub rows: Vec<PlannedRecord>,
}

fn cleansed(a: &PlannedAsset) -> Value {
    json!({
        "name": a.name, "asset_type": a.kind.as_str(), "hostname": a.hostname, "ip_address": a.ip,
        "operating_system": a.os, "os_version": a.os_version, "cpu_cores": a.cpu_cores,
        "memory_gb": a.memory_gb, "storage_gb": a.storage_gb, "environment": a.environment,
    })
}

fn cmdb_row(a: &PlannedAsset) -> Value {
    json!({
        "hostname": a.hostname.clone().unwrap_or_default().to_uppercase(),
        "ip_address": a.ip.clone().unwrap_or_default(),
        "os": a.os.unwrap_or(""), "os_version": a.os_version.unwrap_or(""),
        "cpu_cores": a.cpu_cores.map_or(String::new(), |c| c.to_string()),
        "memory_mb": a.memory_gb.map_or(String::new(), |m| ((m * 1024.0) as i64).to_string()),
        "storage_gb": a.storage_gb.map_or(String::new(), |s| s.to_string()),
        "environment": a.environment.to_uppercase(), "owner": a.technical_owner,
        "ci_class": match a.kind { AssetType::Database => "cmdb_ci_db_instance", AssetType::NetworkDevice => "cmdb_ci_netgear", _ => "cmdb_ci_server" },
    })
}

fn cloud_row(a: &PlannedAsset) -> Value {
    json!({
        "instance_name": a.hostname, "private_ip": a.ip, "platform": a.os,
        "vcpus": a.cpu_cores, "memory_gib": a.memory_gb, "disk_gb": a.storage_gb,
        "tags": {"env": a.environment, "owner": a.business_owner},
    })
}

fn manual_row(a: &PlannedAsset) -> Value {
    json!({
        "Name": a.name, "Type": a.kind.as_str(), "Hostname": a.hostname.clone().unwrap_or_default(),
        "IP": a.ip.clone().unwrap_or_default(), "OS": a.os.unwrap_or(""), "Owner": a.business_owner,
        "Criticality": a.criticality.as_str(),
    })
}

fn invalid(problem: &str, field: &str, detail: String) -> Value {
    json!({"valid": false, "errors": [{"field": field, "problem": problem, "detail": detail}]})
}

/// Which assets each import lists as valid rows, in file order before shuffling, and how
/// many invalid rows it adds: the CMDB export has every infrastructure asset, the cloud
/// inventory the servers and databases, the manual list the applications, network devices and
/// the first 15 servers.
fn sources(assets: &[PlannedAsset]) -> [(&'static str, Vec<&PlannedAsset>, usize); 3] {
    let infra = assets
        .iter()
        .filter(|a| a.kind != AssetType::Application)
        .collect();
    let servers_dbs = assets
        .iter()
        .filter(|a| matches!(a.kind, AssetType::Server | AssetType::Database))
        .collect();
    let mut manual: Vec<&PlannedAsset> = assets
        .iter()
        .filter(|a| matches!(a.kind, AssetType::Application | AssetType::NetworkDevice))
        .collect();
    manual.extend(
        assets
            .iter()
            .filter(|a| a.kind == AssetType::Server)
            .take(15),
    );
    [
        ("cmdb", infra, 18),
        ("cloud", servers_dbs, 5),
        ("manual", manual, 8),
    ]
}

/// For each planned asset (by index), how many valid source rows describe it: what
/// [`records`] would link to it, without building the rows.
pub fn source_counts(t: &Tenant, assets: &[PlannedAsset]) -> Vec<usize> {
    let mut counts = vec![0; assets.len()];
    if t.demo_shaped {
        for (_, chosen, _) in sources(assets) {
            for a in chosen {
                counts[a.index] += 1;
            }
        }
    }
    counts
}

/// Every source row of a tenant's imports (empty for side tenants, which have no imports).
pub fn records(ctx: &Dataset, t: &Tenant) -> Vec<PlannedImportRows> {
    if !t.demo_shaped {
        return Vec::new();
    }
    let assets = assets(ctx, t);
    let mut rng = ctx.rng(stage_id::RAW_IMPORT_RECORDS_STREAM, t);
    let prefix: String = t.slug.chars().take(3).collect();

    // (raw, cleansed, validation, asset) before numbering.
    type Row = (Value, Option<Value>, Value, Option<usize>);
    let mut first_seen: HashMap<usize, (&'static str, usize)> = HashMap::new();
    let mut out = Vec::new();
    for (key, chosen, invalid_rows) in sources(&assets) {
        let mut rows: Vec<Row> = Vec::new();
        for a in &chosen {
            let raw = match key {
                "cmdb" => cmdb_row(a),
                "cloud" => cloud_row(a),
                _ => manual_row(a),
            };
            rows.push((
                raw,
                Some(cleansed(a)),
                json!({"valid": true, "errors": []}),
                Some(a.index),
            ));
        }
        for k in 0..invalid_rows {
            let ghost = format!("{prefix}-tmp-{key}-{:02}", k + 1);
            let ip = format!(
                "10.99.{}.{}",
                rng.random_range(0..255),
                rng.random_range(1..255)
            );
            let (raw, validation) = match (key, k) {
                ("cmdb", 0..=5) | ("manual", 0..=3) => {
                    let mut r = if key == "cmdb" {
                        json!({"hostname": "", "ip_address": ip, "os": "Linux", "os_version": "RHEL 8.8", "cpu_cores": "4", "memory_mb": "16384", "storage_gb": "250", "environment": "PRODUCTION", "owner": "", "ci_class": "cmdb_ci_server"})
                    } else {
                        json!({"Name": "", "Type": "server", "Hostname": "", "IP": ip, "OS": "Linux", "Owner": "", "Criticality": "medium"})
                    };
                    if let Some(o) = r.as_object_mut() {
                        o.insert("note".into(), json!("row exported without a CI name"));
                    }
                    (
                        r,
                        invalid(
                            "missing",
                            "hostname",
                            "hostname is empty; the row cannot be matched to an asset".into(),
                        ),
                    )
                }
                ("cmdb", 6..=10) | ("cloud", 0..=2) => {
                    let bad = [
                        "10.1.300.7",
                        "10.12.4",
                        "192.168.1.256",
                        "not-an-ip",
                        "10.0.0.0.1",
                    ][k % 5];
                    let r = if key == "cmdb" {
                        json!({"hostname": ghost.to_uppercase(), "ip_address": bad, "os": "Linux", "os_version": "Ubuntu 22.04", "cpu_cores": "2", "memory_mb": "8192", "storage_gb": "100", "environment": "TEST", "owner": "", "ci_class": "cmdb_ci_server"})
                    } else {
                        json!({"instance_name": ghost, "private_ip": bad, "platform": "Linux", "vcpus": 2, "memory_gib": 8, "disk_gb": 100, "tags": {}})
                    };
                    (
                        r,
                        invalid(
                            "malformed",
                            "ip_address",
                            format!("`{bad}` is not an IPv4 address"),
                        ),
                    )
                }
                ("cmdb", 11..=14) | ("manual", _) => {
                    let os = ["SunOS 5.8", "HP-UX 11i", "AIX 5.3", "OS/2 Warp"][k % 4];
                    let r = if key == "cmdb" {
                        json!({"hostname": ghost.to_uppercase(), "ip_address": ip, "os": os, "os_version": "", "cpu_cores": "8", "memory_mb": "32768", "storage_gb": "500", "environment": "PRODUCTION", "owner": "", "ci_class": "cmdb_ci_server"})
                    } else {
                        json!({"Name": ghost, "Type": "server", "Hostname": ghost, "IP": ip, "OS": os, "Owner": "", "Criticality": "low"})
                    };
                    (
                        r,
                        invalid(
                            "unknown",
                            "operating_system",
                            format!("`{os}` is not in the technology catalogue"),
                        ),
                    )
                }
                _ => {
                    let size = -(rng.random_range(1..500) as i64);
                    let r = if key == "cmdb" {
                        json!({"hostname": ghost.to_uppercase(), "ip_address": ip, "os": "Windows", "os_version": "Windows Server 2016", "cpu_cores": "4", "memory_mb": "16384", "storage_gb": size.to_string(), "environment": "PRODUCTION", "owner": "", "ci_class": "cmdb_ci_server"})
                    } else {
                        json!({"instance_name": ghost, "private_ip": ip, "platform": "Windows", "vcpus": 4, "memory_gib": 16, "disk_gb": size, "tags": {}})
                    };
                    (
                        r,
                        invalid(
                            "negative",
                            "storage_gb",
                            format!("storage size {size} is negative"),
                        ),
                    )
                }
            };
            rows.push((raw, None, validation, None));
        }
        rows.shuffle(&mut rng);
        let mut numbered = Vec::new();
        for (i, (raw, cleansed, mut validation, asset)) in rows.into_iter().enumerate() {
            let row_number = i as i32 + 1;
            if let Some(a) = asset {
                match first_seen.get(&a) {
                    Some((src, row)) => {
                        validation = json!({"valid": true, "errors": [], "warnings": [format!("duplicate of {src} row {row}; merged into one asset")], "duplicate_of": {"import": src, "row": row}});
                    }
                    None => {
                        first_seen.insert(a, (key, i + 1));
                    }
                }
            }
            numbered.push(PlannedRecord {
                id: id(
                    "raw_import_record",
                    &format!("{}/{key}/{row_number}", t.slug),
                ),
                row_number,
                raw,
                cleansed,
                validation,
                asset_id: asset.and_then(|a| assets.get(a)).map(|a| a.id),
            });
        }
        out.push(PlannedImportRows {
            key,
            rows: numbered,
        });
    }
    out
}
