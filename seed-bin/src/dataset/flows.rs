//! The discovery flows of a tenant and their ids.

use super::Tenant;
use crate::ids::id;
use domain::enums::FlowStatus;
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
pub struct FlowSpec {
    pub key: &'static str,
    pub name: &'static str,
    pub status: FlowStatus,
    pub last_phase: &'static str,
    pub days_ago: i64,
}

/// Democorp's five flows.
pub const DEMO_FLOWS: &[FlowSpec] = &[
    FlowSpec {
        key: "cmdb",
        name: "CMDB baseline discovery",
        status: FlowStatus::Completed,
        last_phase: "tech_debt_analysis",
        days_ago: 60,
    },
    FlowSpec {
        key: "cloud",
        name: "Cloud inventory reconciliation",
        status: FlowStatus::Completed,
        last_phase: "asset_inventory",
        days_ago: 45,
    },
    FlowSpec {
        key: "deps",
        name: "Network dependency mapping",
        status: FlowStatus::Completed,
        last_phase: "dependency_analysis",
        days_ago: 30,
    },
    FlowSpec {
        key: "manual",
        name: "Manual asset list intake",
        status: FlowStatus::InProgress,
        last_phase: "field_mapping",
        days_ago: 5,
    },
    FlowSpec {
        key: "retry",
        name: "Legacy estate rescan",
        status: FlowStatus::Failed,
        last_phase: "data_cleansing",
        days_ago: 12,
    },
];
/// The one flow of a side tenant.
pub const SIDE_FLOWS: &[FlowSpec] = &[FlowSpec {
    key: "cmdb",
    name: "Initial discovery",
    status: FlowStatus::Completed,
    last_phase: "tech_debt_analysis",
    days_ago: 40,
}];

/// The flows of a tenant.
pub fn flows(t: &Tenant) -> &'static [FlowSpec] {
    if t.demo_shaped {
        DEMO_FLOWS
    } else {
        SIDE_FLOWS
    }
}

/// The id of a tenant's flow.
pub fn flow_id(tenant: &str, key: &str) -> Uuid {
    id("discovery_flow", &format!("{tenant}/{key}"))
}
