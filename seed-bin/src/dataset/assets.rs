//! A tenant's planned assets: the 60 of the demo shape (12 for a side tenant), in a fixed order.
//!
//! Each part of the dataset is generated from its own random stream
//! (`ids::rng(seed, stream, tenant)`), so stage 09 can recompute stage 08's strategies without
//! reading them back, and changing one stage's generator never shifts another's. Structure (how
//! many of what) never depends on the seed, only the details do, so the catalogue's counts hold
//! for every `--rng-seed`.

use super::{Dataset, Tenant, stage_id};
use crate::ids::id;
use domain::enums::{AssetType, CriticalityLevel};
use fake::Fake;
use fake::faker::name::en::Name;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

/// One planned asset.
#[derive(Debug, Clone)]
pub struct PlannedAsset {
    pub id: Uuid,
    pub index: usize,
    pub name: String,
    pub kind: AssetType,
    /// Sub-kind: java, dotnet, python, legacy / linux, windows / oracle, sqlserver, postgres / lb, firewall.
    pub flavor: &'static str,
    pub hostname: Option<String>,
    pub ip: Option<String>,
    pub os: Option<&'static str>,
    pub os_version: Option<&'static str>,
    /// (name, version) in the technology catalogue.
    pub technology: Option<(&'static str, &'static str)>,
    pub environment: &'static str,
    pub cpu_cores: Option<i32>,
    pub memory_gb: Option<f64>,
    pub storage_gb: Option<f64>,
    pub business_owner: String,
    pub technical_owner: String,
    pub criticality: CriticalityLevel,
    pub description: String,
    pub tags: Vec<&'static str>,
}

/// An application's flavour and its (technology, version).
type AppKind = (&'static str, (&'static str, &'static str));

const APPS: &[(&str, &str, (&str, &str))] = &[
    ("Order Management", "java", ("Java", "17")),
    ("Customer Portal", "java", ("Java", "11")),
    ("Payment Gateway", "java", ("Java", "8")),
    ("Inventory Service", "dotnet", (".NET", "8")),
    ("HR Self-Service", "dotnet", (".NET Framework", "4.8")),
    ("Supplier Hub", "dotnet", (".NET", "6")),
    ("Pricing Engine", "python", ("Python", "3.11")),
    ("Analytics Pipeline", "python", ("Python", "2.7")),
    ("Mainframe Billing", "legacy", ("COBOL", "6.3")),
    ("Warehouse Scanner", "legacy", ("COBOL", "6.3")),
];
const SIDE_APPS: &[(&str, &str, (&str, &str))] = &[
    ("Patient Records", "java", ("Java", "11")),
    ("Scheduling", "dotnet", (".NET", "6")),
    ("Reporting", "python", ("Python", "3.11")),
];
const LINUX: &[(&str, (&str, &str))] = &[
    ("RHEL 8.8", ("Red Hat Enterprise Linux", "8")),
    ("RHEL 7.9", ("Red Hat Enterprise Linux", "7")),
    ("RHEL 9.2", ("Red Hat Enterprise Linux", "9")),
    ("Ubuntu 22.04", ("Ubuntu", "22.04")),
    ("Ubuntu 18.04", ("Ubuntu", "18.04")),
];
const WINDOWS: &[(&str, (&str, &str))] = &[
    ("Windows Server 2019", ("Windows Server", "2019")),
    ("Windows Server 2016", ("Windows Server", "2016")),
    ("Windows Server 2022", ("Windows Server", "2022")),
    ("Windows Server 2012 R2", ("Windows Server", "2012 R2")),
];
const DBS: &[(&str, (&str, &str))] = &[
    ("oracle", ("Oracle Database", "19c")),
    ("oracle", ("Oracle Database", "12c")),
    ("oracle", ("Oracle Database", "19c")),
    ("oracle", ("Oracle Database", "19c")),
    ("sqlserver", ("SQL Server", "2019")),
    ("sqlserver", ("SQL Server", "2014")),
    ("sqlserver", ("SQL Server", "2019")),
    ("postgres", ("PostgreSQL", "15")),
    ("postgres", ("PostgreSQL", "11")),
    ("postgres", ("PostgreSQL", "15")),
];
const ROLES_LINUX: &[&str] = &["web", "app", "batch", "mq", "cache"];
const ROLES_WINDOWS: &[&str] = &["iis", "app", "file", "rds", "ad"];
const ENVIRONMENTS: &[&str] = &[
    "production",
    "production",
    "production",
    "staging",
    "test",
    "development",
    "disaster_recovery",
];

/// How many assets of each kind a tenant gets: (apps, linux, windows, databases, network).
pub fn shape(t: &Tenant) -> (usize, usize, usize, usize, usize) {
    if let Some(n) = t.custom.as_ref().and_then(|c| c.assets) {
        super::custom::split(n)
    } else if t.demo_shaped {
        (10, 20, 15, 10, 5)
    } else {
        (3, 3, 3, 2, 1)
    }
}

pub(super) fn pick<'a, T>(rng: &mut ChaCha8Rng, xs: &'a [T]) -> &'a T {
    &xs[rng.random_range(0..xs.len())]
}

fn criticality(rng: &mut ChaCha8Rng) -> CriticalityLevel {
    match rng.random_range(0..10) {
        0..=1 => CriticalityLevel::Critical,
        2..=4 => CriticalityLevel::High,
        5..=7 => CriticalityLevel::Medium,
        _ => CriticalityLevel::Low,
    }
}

fn tags_for(rng: &mut ChaCha8Rng, kind: AssetType) -> Vec<&'static str> {
    let mut out = Vec::new();
    for (tag, p) in [
        ("pci", 0.2),
        ("gdpr", 0.3),
        ("legacy", 0.2),
        ("customer-facing", 0.3),
        ("tier-1", 0.25),
    ] {
        if rng.random_bool(p) {
            out.push(tag);
        }
    }
    if kind == AssetType::Application && out.is_empty() {
        out.push("tier-1");
    }
    out
}

/// Host `i` of a kind's subnet `sub`: `10.<tenant octet>.<sub>.<first + i>` while it fits,
/// then further subnets ten apart (so kinds never meet), for a factory's large estates.
fn address(octet: usize, sub: usize, first: usize, i: usize) -> String {
    const PER_SUBNET: usize = 240;
    format!(
        "10.{octet}.{}.{}",
        sub + 10 * (i / PER_SUBNET),
        first + i % PER_SUBNET
    )
}

/// The `k`-th entry of a fixed list, cycling past its end for a factory's larger counts, with
/// the round as a suffix so names stay unique ("Reporting", …, "Reporting 2").
fn nth_named<T: Copy>(xs: &[(&'static str, T)], k: usize) -> Option<(String, T)> {
    let (name, v) = *xs.get(k % xs.len().max(1))?;
    let round = k / xs.len();
    Some(if round == 0 {
        (name.to_string(), v)
    } else {
        (format!("{name} {}", round + 1), v)
    })
}

/// The id of an asset from its tenant and name.
pub fn asset_id(tenant: &str, name: &str) -> Uuid {
    id("asset", &format!("{tenant}/{name}"))
}

/// Every asset of a tenant, in a fixed order: apps, Linux, Windows, databases, network.
pub fn assets(ctx: &Dataset, t: &Tenant) -> Vec<PlannedAsset> {
    let mut rng = ctx.rng(stage_id::ASSETS, t);
    let (n_apps, n_lin, n_win, n_db, n_net) = shape(t);
    let prefix: String = t
        .slug
        .split('-')
        .next()
        .unwrap_or("dc")
        .chars()
        .take(3)
        .collect();
    // 10.<tenant octet>.x.y: private and distinct per tenant at scale 1.
    let octet = (t.index % 250) + 1;
    let mut out = Vec::new();
    let owner = |rng: &mut ChaCha8Rng| -> String { Name().fake_with_rng(rng) };
    let push = |out: &mut Vec<PlannedAsset>, a: PlannedAsset| {
        out.push(PlannedAsset {
            index: out.len(),
            ..a
        })
    };
    let apps = if t.demo_shaped { APPS } else { SIDE_APPS };
    let apps: Vec<(&str, AppKind)> = apps.iter().map(|(n, f, tech)| (*n, (*f, *tech))).collect();
    for k in 0..n_apps {
        let Some((name, (flavor, tech))) = nth_named(&apps, k) else {
            break;
        };
        let flavor: &'static str = flavor;
        let tech = &tech;
        let a = PlannedAsset {
            id: asset_id(&t.slug, &name),
            index: 0,
            name: name.to_string(),
            kind: AssetType::Application,
            flavor,
            hostname: None,
            ip: None,
            os: None,
            os_version: None,
            technology: Some(*tech),
            environment: "production",
            cpu_cores: None,
            memory_gb: None,
            storage_gb: None,
            business_owner: owner(&mut rng),
            technical_owner: owner(&mut rng),
            criticality: criticality(&mut rng),
            description: format!(
                "{name}: {} application",
                match flavor {
                    "java" => "Java",
                    "dotnet" => ".NET",
                    "python" => "Python",
                    _ => "legacy COBOL",
                }
            ),
            tags: tags_for(&mut rng, AssetType::Application),
        };
        push(&mut out, a);
    }
    let server = |out: &mut Vec<PlannedAsset>, rng: &mut ChaCha8Rng, i: usize, windows: bool| {
        let (os, family, roles, sub) = if windows {
            ("Windows", WINDOWS, ROLES_WINDOWS, 2)
        } else {
            ("Linux", LINUX, ROLES_LINUX, 1)
        };
        let (ver, tech) = *pick(rng, family);
        let role = roles[i % roles.len()];
        let host = format!(
            "{prefix}-{}-{role}-{:02}",
            if windows { "win" } else { "lnx" },
            i + 1
        );
        let cores = *pick(rng, &[2, 4, 8, 16, 32]);
        let a = PlannedAsset {
            id: asset_id(&t.slug, &host),
            index: 0,
            name: host.clone(),
            kind: AssetType::Server,
            flavor: if windows { "windows" } else { "linux" },
            hostname: Some(host.clone()),
            ip: Some(address(octet, sub, 10, i)),
            os: Some(os),
            os_version: Some(ver),
            technology: Some(tech),
            environment: ENVIRONMENTS[rng.random_range(0..ENVIRONMENTS.len())],
            cpu_cores: Some(cores),
            memory_gb: Some((cores * *pick(rng, &[2, 4, 8])) as f64),
            storage_gb: Some(*pick(rng, &[100.0, 250.0, 500.0, 1000.0, 2000.0])),
            business_owner: owner(rng),
            technical_owner: owner(rng),
            criticality: criticality(rng),
            description: format!("{os} {role} server"),
            tags: tags_for(rng, AssetType::Server),
        };
        out.push(PlannedAsset {
            index: out.len(),
            ..a
        });
    };
    for i in 0..n_lin {
        server(&mut out, &mut rng, i, false);
    }
    for i in 0..n_win {
        server(&mut out, &mut rng, i, true);
    }
    for (i, (flavor, tech)) in DBS.iter().cycle().take(n_db).enumerate() {
        let host = format!("{prefix}-db-{flavor}-{:02}", i + 1);
        let a = PlannedAsset {
            id: asset_id(&t.slug, &host),
            index: out.len(),
            name: host.clone(),
            kind: AssetType::Database,
            flavor,
            hostname: Some(host.clone()),
            ip: Some(address(octet, 3, 10, i)),
            os: Some(if *flavor == "sqlserver" {
                "Windows"
            } else {
                "Linux"
            }),
            os_version: None,
            technology: Some(*tech),
            environment: "production",
            cpu_cores: Some(*pick(&mut rng, &[8, 16, 32])),
            memory_gb: Some(*pick(&mut rng, &[64.0, 128.0, 256.0])),
            storage_gb: Some(*pick(&mut rng, &[500.0, 2000.0, 4000.0, 8000.0])),
            business_owner: owner(&mut rng),
            technical_owner: owner(&mut rng),
            criticality: criticality(&mut rng),
            description: format!("{} {} database", tech.0, tech.1),
            tags: tags_for(&mut rng, AssetType::Database),
        };
        out.push(a);
    }
    for i in 0..n_net {
        let lb = i < 2;
        let host = format!("{prefix}-{}-{:02}", if lb { "lb" } else { "fw" }, i + 1);
        let a = PlannedAsset {
            id: asset_id(&t.slug, &host),
            index: out.len(),
            name: host.clone(),
            kind: AssetType::NetworkDevice,
            flavor: if lb { "lb" } else { "firewall" },
            hostname: Some(host.clone()),
            ip: Some(address(octet, 0, 2, i)),
            os: Some(if lb { "F5 TMOS" } else { "PAN-OS" }),
            os_version: Some(if lb { "16.1" } else { "10.2" }),
            technology: None,
            environment: "production",
            cpu_cores: None,
            memory_gb: None,
            storage_gb: None,
            business_owner: owner(&mut rng),
            technical_owner: owner(&mut rng),
            criticality: CriticalityLevel::High,
            description: if lb {
                "F5 BIG-IP load balancer".into()
            } else {
                "Palo Alto firewall".into()
            },
            tags: vec!["tier-1"],
        };
        out.push(a);
    }
    out
}
