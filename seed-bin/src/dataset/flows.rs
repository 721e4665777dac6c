//! The discovery flows of a tenant and their ids.

use super::Tenant;
use crate::ids::id;
use domain::enums::FlowStatus;
use std::borrow::Cow;
use uuid::Uuid;

/// The pipeline's phases in order.
pub const PHASES: &[&str] = &[
    "initialization",
    "data_import",
    "field_mapping",
    "data_cleansing",
    "asset_inventory",
    "dependency_analysis",
    "tech_debt_analysis",
];

/// A planned flow: (key, name, status, last phase reached, days ago started).
#[derive(Debug, Clone)]
pub struct FlowSpec {
    pub key: Cow<'static, str>,
    pub name: Cow<'static, str>,
    pub status: FlowStatus,
    pub last_phase: &'static str,
    pub days_ago: i64,
}

/// Democorp's five flows.
pub const DEMO_FLOWS: &[FlowSpec] = &[
    FlowSpec {
        key: Cow::Borrowed("cmdb"),
        name: Cow::Borrowed("CMDB baseline discovery"),
        status: FlowStatus::Completed,
        last_phase: "tech_debt_analysis",
        days_ago: 60,
    },
    FlowSpec {
        key: Cow::Borrowed("cloud"),
        name: Cow::Borrowed("Cloud inventory reconciliation"),
        status: FlowStatus::Completed,
        last_phase: "asset_inventory",
        days_ago: 45,
    },
    FlowSpec {
        key: Cow::Borrowed("deps"),
        name: Cow::Borrowed("Network dependency mapping"),
        status: FlowStatus::Completed,
        last_phase: "dependency_analysis",
        days_ago: 30,
    },
    FlowSpec {
        key: Cow::Borrowed("manual"),
        name: Cow::Borrowed("Manual asset list intake"),
        status: FlowStatus::InProgress,
        last_phase: "field_mapping",
        days_ago: 5,
    },
    FlowSpec {
        key: Cow::Borrowed("retry"),
        name: Cow::Borrowed("Legacy estate rescan"),
        status: FlowStatus::Failed,
        last_phase: "data_cleansing",
        days_ago: 12,
    },
];
/// The one flow of a side tenant.
pub const SIDE_FLOWS: &[FlowSpec] = &[FlowSpec {
    key: Cow::Borrowed("cmdb"),
    name: Cow::Borrowed("Initial discovery"),
    status: FlowStatus::Completed,
    last_phase: "tech_debt_analysis",
    days_ago: 40,
}];

/// The flows of a tenant: its generated ones, then a factory's stuck flows.
pub fn flows(t: &Tenant) -> Vec<FlowSpec> {
    let generated = if t.demo_shaped {
        DEMO_FLOWS
    } else {
        SIDE_FLOWS
    };
    let mut out = generated.to_vec();
    for f in t.custom.iter().flat_map(|c| &c.flows) {
        out.push(FlowSpec {
            key: Cow::Owned(f.key()),
            name: Cow::Owned(f.name()),
            status: f.status,
            last_phase: f.phase,
            days_ago: f.days_ago,
        });
    }
    out
}

/// The id of a tenant's flow.
pub fn flow_id(tenant: &str, key: &str) -> Uuid {
    id("discovery_flow", &format!("{tenant}/{key}"))
}
