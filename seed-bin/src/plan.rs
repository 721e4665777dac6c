//! The in-memory plan of a tenant's demo data, shared by the stages that need it.
//!
//! Each part is generated from its own stage's random stream (`ids::rng(seed, stage, tenant)`),
//! so stage 09 can recompute stage 08's strategies without reading them back, and changing one
//! stage's generator never shifts another's. Structure (how many of what) never depends on the
//! seed, only the details do, so the catalogue's counts hold for every `--rng-seed`.

use crate::ids::id;
use crate::stage::{Ctx, Tenant};
use domain::enums::{AssetType, CriticalityLevel, SixrStrategy};
use fake::Fake;
use fake::faker::name::en::Name;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

/// Stage ids, repeated here so the plan can seed the right streams.
pub const ASSETS_STAGE: &str = "06_assets";
/// Dependencies' stream.
pub const DEPS_STAGE: &str = "07_dependencies";
/// Assessments' stream.
pub const ASSESS_STAGE: &str = "08_assessments";

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
    if t.demo_shaped {
        (10, 20, 15, 10, 5)
    } else {
        (3, 3, 3, 2, 1)
    }
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, xs: &'a [T]) -> &'a T {
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

/// The id of an asset from its tenant and name.
pub fn asset_id(tenant: &str, name: &str) -> Uuid {
    id("asset", &format!("{tenant}/{name}"))
}

/// Every asset of a tenant, in a fixed order: apps, Linux, Windows, databases, network.
pub fn assets(ctx: &Ctx, t: &Tenant) -> Vec<PlannedAsset> {
    let mut rng = ctx.rng(ASSETS_STAGE, t);
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
    for (name, flavor, tech) in apps.iter().take(n_apps) {
        let a = PlannedAsset {
            id: asset_id(&t.slug, name),
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
                match *flavor {
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
            ip: Some(format!("10.{octet}.{sub}.{}", 10 + i)),
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
    for (i, (flavor, tech)) in DBS.iter().take(n_db).enumerate() {
        let host = format!("{prefix}-db-{flavor}-{:02}", i + 1);
        let a = PlannedAsset {
            id: asset_id(&t.slug, &host),
            index: out.len(),
            name: host.clone(),
            kind: AssetType::Database,
            flavor,
            hostname: Some(host.clone()),
            ip: Some(format!("10.{octet}.3.{}", 10 + i)),
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
            ip: Some(format!("10.{octet}.0.{}", 2 + i)),
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

/// One planned dependency edge: source depends on target.
#[derive(Debug, Clone)]
pub struct PlannedEdge {
    pub source: usize,
    pub target: usize,
    pub kind: &'static str,
    pub protocol: Option<&'static str>,
    pub port: Option<i32>,
    pub critical: bool,
}

fn by_kind(assets: &[PlannedAsset], kind: AssetType) -> Vec<usize> {
    assets
        .iter()
        .filter(|a| a.kind == kind)
        .map(|a| a.index)
        .collect()
}

/// The dependency graph: apps on servers and databases, servers behind network devices,
/// apps calling apps (with a cycle among the first three apps). No self-edges.
pub fn edges(ctx: &Ctx, t: &Tenant, assets: &[PlannedAsset]) -> Vec<PlannedEdge> {
    let mut rng = ctx.rng(DEPS_STAGE, t);
    let apps = by_kind(assets, AssetType::Application);
    let dbs = by_kind(assets, AssetType::Database);
    let net = by_kind(assets, AssetType::NetworkDevice);
    let linux: Vec<usize> = assets
        .iter()
        .filter(|a| a.flavor == "linux")
        .map(|a| a.index)
        .collect();
    let windows: Vec<usize> = assets
        .iter()
        .filter(|a| a.flavor == "windows")
        .map(|a| a.index)
        .collect();
    let mut out: Vec<PlannedEdge> = Vec::new();
    let add = |out: &mut Vec<PlannedEdge>, e: PlannedEdge| {
        if e.source != e.target
            && !out
                .iter()
                .any(|x| x.source == e.source && x.target == e.target && x.kind == e.kind)
        {
            out.push(e);
        }
    };
    let hosts_per_app = if t.demo_shaped { 3 } else { 2 };
    for (i, &app) in apps.iter().enumerate() {
        let pool = if matches!(assets[app].flavor, "dotnet" | "legacy") && !windows.is_empty() {
            &windows
        } else {
            &linux
        };
        // Distinct hosts: a random start and a stride through the pool.
        let start = rng.random_range(0..pool.len());
        for k in 0..hosts_per_app.min(pool.len()) {
            let target = pool[(start + k) % pool.len()];
            add(
                &mut out,
                PlannedEdge {
                    source: app,
                    target,
                    kind: "hosting",
                    protocol: None,
                    port: None,
                    critical: k == 0,
                },
            );
        }
        let n_db = if t.demo_shaped && i < 5 { 2 } else { 1 };
        let start = rng.random_range(0..dbs.len());
        for k in 0..n_db.min(dbs.len()) {
            let target = dbs[(start + k) % dbs.len()];
            let (protocol, port) = match assets[target].flavor {
                "oracle" => ("tcp", 1521),
                "sqlserver" => ("tcp", 1433),
                _ => ("tcp", 5432),
            };
            add(
                &mut out,
                PlannedEdge {
                    source: app,
                    target,
                    kind: "data",
                    protocol: Some(protocol),
                    port: Some(port),
                    critical: true,
                },
            );
        }
    }
    let firewalls: Vec<usize> = net
        .iter()
        .copied()
        .filter(|&n| assets[n].flavor == "firewall")
        .collect();
    let lbs: Vec<usize> = net
        .iter()
        .copied()
        .filter(|&n| assets[n].flavor == "lb")
        .collect();
    let fw_pool = if firewalls.is_empty() {
        &net
    } else {
        &firewalls
    };
    for &s in linux.iter().chain(&windows) {
        let target = *pick(&mut rng, fw_pool);
        add(
            &mut out,
            PlannedEdge {
                source: s,
                target,
                kind: "network",
                protocol: Some("tcp"),
                port: Some(443),
                critical: false,
            },
        );
    }
    if t.demo_shaped && !lbs.is_empty() {
        for &s in linux.iter().take(10) {
            let target = *pick(&mut rng, &lbs);
            add(
                &mut out,
                PlannedEdge {
                    source: s,
                    target,
                    kind: "network",
                    protocol: Some("https"),
                    port: Some(443),
                    critical: true,
                },
            );
        }
    }
    // The cycle a0 → a1 → a2 → a0 (for cycle handling), then a few one-way integrations.
    let app_pairs: &[(usize, usize)] = if t.demo_shaped {
        &[
            (0, 1),
            (1, 2),
            (2, 0),
            (3, 0),
            (4, 1),
            (5, 3),
            (6, 7),
            (8, 9),
        ]
    } else {
        &[(0, 1), (1, 2), (2, 0)]
    };
    for &(a, b) in app_pairs {
        if a < apps.len() && b < apps.len() {
            add(
                &mut out,
                PlannedEdge {
                    source: apps[a],
                    target: apps[b],
                    kind: "integration",
                    protocol: Some("https"),
                    port: Some(8443),
                    critical: false,
                },
            );
        }
    }
    out
}

/// The recommended 6R strategy of every asset (by index).
pub fn strategies(ctx: &Ctx, t: &Tenant, assets: &[PlannedAsset]) -> Vec<SixrStrategy> {
    let mut rng = ctx.rng(ASSESS_STAGE, t);
    assets
        .iter()
        .map(|a| match (a.kind, a.flavor) {
            // Fixed anchors so every tenant has retire and retain cases.
            (AssetType::Application, _) if a.index == 9 => SixrStrategy::Retire,
            (AssetType::Application, "legacy") => SixrStrategy::Retain,
            (AssetType::Application, "java") => *pick(
                &mut rng,
                &[
                    SixrStrategy::Replatform,
                    SixrStrategy::Refactor,
                    SixrStrategy::Rehost,
                ],
            ),
            (AssetType::Application, "dotnet") => *pick(
                &mut rng,
                &[
                    SixrStrategy::Rehost,
                    SixrStrategy::Replatform,
                    SixrStrategy::Repurchase,
                ],
            ),
            (AssetType::Application, _) => *pick(
                &mut rng,
                &[SixrStrategy::Refactor, SixrStrategy::Replatform],
            ),
            (AssetType::Database, "oracle") => *pick(
                &mut rng,
                &[
                    SixrStrategy::Replatform,
                    SixrStrategy::Rehost,
                    SixrStrategy::Retain,
                ],
            ),
            (AssetType::Database, _) => {
                *pick(&mut rng, &[SixrStrategy::Replatform, SixrStrategy::Rehost])
            }
            (AssetType::Server, _) => match rng.random_range(0..10) {
                0 => SixrStrategy::Retire,
                1 => SixrStrategy::Retain,
                _ => SixrStrategy::Rehost,
            },
            (AssetType::NetworkDevice, _) => SixrStrategy::Repurchase,
            _ => SixrStrategy::Rehost,
        })
        .collect()
}

/// Whether an asset with this strategy is scheduled in a wave.
pub fn migrates(s: SixrStrategy) -> bool {
    !matches!(s, SixrStrategy::Retire | SixrStrategy::Retain)
}
