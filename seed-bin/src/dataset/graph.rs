//! What follows from the planned assets: the dependency graph and each asset's 6R strategy.

use super::assets::{PlannedAsset, pick};
use super::custom::GraphShape;
use super::{Dataset, Tenant, stage_id};
use domain::enums::{AssetType, SixrStrategy};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use std::collections::HashSet;

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
pub fn edges(ctx: &Dataset, t: &Tenant, assets: &[PlannedAsset]) -> Vec<PlannedEdge> {
    let mut rng = ctx.rng(stage_id::DEPENDENCIES, t);
    let shape = t.custom.as_ref().map_or(GraphShape::Standard, |c| c.graph);
    if shape != GraphShape::Standard {
        return shaped(shape, &mut rng, assets);
    }
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
    // A set beside the list: a factory tenant's thousands of edges made the linear scan
    // quadratic.
    let mut seen: HashSet<(usize, usize, &'static str)> = HashSet::new();
    let mut add = |out: &mut Vec<PlannedEdge>, e: PlannedEdge| {
        if e.source != e.target && seen.insert((e.source, e.target, e.kind)) {
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

/// One edge of a factory's graph shape, typed by what the target is.
fn edge_to(assets: &[PlannedAsset], source: usize, target: usize) -> PlannedEdge {
    let (kind, protocol, port) = match assets[target].kind {
        AssetType::Database => ("data", Some("tcp"), Some(5432)),
        AssetType::Server => ("hosting", None, None),
        AssetType::NetworkDevice => ("network", Some("tcp"), Some(443)),
        _ => ("integration", Some("https"), Some(8443)),
    };
    PlannedEdge {
        source,
        target,
        kind,
        protocol,
        port,
        critical: false,
    }
}

/// A factory's graph of a given shape over all assets, in asset order; never a self-edge or
/// a duplicate.
fn shaped(shape: GraphShape, rng: &mut ChaCha8Rng, assets: &[PlannedAsset]) -> Vec<PlannedEdge> {
    let n = assets.len();
    let pairs: Vec<(usize, usize)> = match shape {
        GraphShape::Standard | GraphShape::None => Vec::new(),
        GraphShape::Chain => (1..n).map(|i| (i - 1, i)).collect(),
        GraphShape::Star => (1..n).map(|i| (i, 0)).collect(),
        GraphShape::Tree => (1..n).map(|i| (i, (i - 1) / 2)).collect(),
        GraphShape::Random => {
            // Edges only point to earlier assets, so the graph is acyclic whatever the draw.
            let mut seen = HashSet::new();
            let mut out = Vec::new();
            for i in 1..n {
                for _ in 0..2 {
                    let j = rng.random_range(0..i);
                    if seen.insert((i, j)) {
                        out.push((i, j));
                    }
                }
            }
            out
        }
    };
    pairs
        .into_iter()
        .map(|(s, t)| edge_to(assets, s, t))
        .collect()
}

/// The recommended 6R strategy of every asset (by index).
pub fn strategies(ctx: &Dataset, t: &Tenant, assets: &[PlannedAsset]) -> Vec<SixrStrategy> {
    let mut rng = ctx.rng(stage_id::ASSESSMENTS, t);
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
