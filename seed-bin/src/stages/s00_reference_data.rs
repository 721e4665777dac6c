//! Stage 00_reference_data: the 6R strategies and the technology catalogue. Lookup data the
//! application needs everywhere, so this is the only stage allowed in production.

use super::expected::{self, Expected};
use super::stage::{Ctx, Stage, StageCtx, StageInfo, StageOutput};
use crate::dataset::{stage_id, technology_id};
use crate::error::Result;
use crate::fingerprint::{OwnedTable, table};
use crate::ids::{id, ts};
use crate::write::Snapshot;
use chrono::NaiveDate;
use diesel_async::AsyncPgConnection;
use domain::enums::SixrStrategy;
use domain::models::{NewSixrStrategyDefinition, NewTechnologyCatalogEntry};
use futures_util::future::BoxFuture;

/// Stage id.
pub const ID: &str = stage_id::REFERENCE_DATA;
const TABLES: &[OwnedTable] = &[table("sixr_strategies"), table("technology_catalog")];

/// (strategy, name, description, typical effort, typical weeks)
const STRATEGIES: &[(SixrStrategy, &str, &str, &str, i32)] = &[
    (
        SixrStrategy::Rehost,
        "Rehost",
        "Lift and shift: move the workload to cloud infrastructure unchanged.",
        "low",
        4,
    ),
    (
        SixrStrategy::Replatform,
        "Replatform",
        "Lift, tinker and shift: small changes to use managed services (e.g. a managed database).",
        "medium",
        8,
    ),
    (
        SixrStrategy::Refactor,
        "Refactor",
        "Re-architect the application to be cloud native.",
        "very_high",
        26,
    ),
    (
        SixrStrategy::Repurchase,
        "Repurchase",
        "Replace with a SaaS or commercial product.",
        "medium",
        12,
    ),
    (
        SixrStrategy::Retire,
        "Retire",
        "Decommission: the capability is no longer needed.",
        "none",
        2,
    ),
    (
        SixrStrategy::Retain,
        "Retain",
        "Keep on premises for now and revisit later.",
        "none",
        0,
    ),
];

/// (name, version, category, vendor, released, end of support, end of extended support)
type Tech = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
);
/// The catalogue: 25 technologies. Support dates are the vendors' published ones.
pub const TECHNOLOGIES: &[Tech] = &[
    (
        "Java",
        "8",
        "language",
        "Oracle",
        "2014-03-18",
        "2030-12-31",
        None,
    ),
    (
        "Java",
        "11",
        "language",
        "Oracle",
        "2018-09-25",
        "2026-09-30",
        Some("2032-01-31"),
    ),
    (
        "Java",
        "17",
        "language",
        "Oracle",
        "2021-09-14",
        "2029-09-30",
        Some("2031-09-30"),
    ),
    (
        ".NET Framework",
        "4.8",
        "runtime",
        "Microsoft",
        "2019-04-18",
        "2029-01-09",
        None,
    ),
    (
        ".NET",
        "6",
        "runtime",
        "Microsoft",
        "2021-11-08",
        "2024-11-12",
        None,
    ),
    (
        ".NET",
        "8",
        "runtime",
        "Microsoft",
        "2023-11-14",
        "2026-11-10",
        None,
    ),
    (
        "Python",
        "2.7",
        "language",
        "Python Software Foundation",
        "2010-07-03",
        "2020-01-01",
        None,
    ),
    (
        "Python",
        "3.11",
        "language",
        "Python Software Foundation",
        "2022-10-24",
        "2027-10-31",
        None,
    ),
    (
        "COBOL",
        "6.3",
        "language",
        "IBM",
        "2019-09-06",
        "2030-09-30",
        None,
    ),
    (
        "Node.js",
        "18",
        "runtime",
        "OpenJS Foundation",
        "2022-04-19",
        "2025-04-30",
        None,
    ),
    (
        "Red Hat Enterprise Linux",
        "7",
        "operating_system",
        "Red Hat",
        "2014-06-10",
        "2024-06-30",
        Some("2028-06-30"),
    ),
    (
        "Red Hat Enterprise Linux",
        "8",
        "operating_system",
        "Red Hat",
        "2019-05-07",
        "2029-05-31",
        Some("2032-05-31"),
    ),
    (
        "Red Hat Enterprise Linux",
        "9",
        "operating_system",
        "Red Hat",
        "2022-05-17",
        "2032-05-31",
        Some("2035-05-31"),
    ),
    (
        "Ubuntu",
        "18.04",
        "operating_system",
        "Canonical",
        "2018-04-26",
        "2023-05-31",
        Some("2028-04-30"),
    ),
    (
        "Ubuntu",
        "22.04",
        "operating_system",
        "Canonical",
        "2022-04-21",
        "2027-04-30",
        Some("2032-04-30"),
    ),
    (
        "Windows Server",
        "2012 R2",
        "operating_system",
        "Microsoft",
        "2013-11-25",
        "2018-10-09",
        Some("2023-10-10"),
    ),
    (
        "Windows Server",
        "2016",
        "operating_system",
        "Microsoft",
        "2016-10-15",
        "2022-01-11",
        Some("2027-01-12"),
    ),
    (
        "Windows Server",
        "2019",
        "operating_system",
        "Microsoft",
        "2018-11-13",
        "2024-01-09",
        Some("2029-01-09"),
    ),
    (
        "Windows Server",
        "2022",
        "operating_system",
        "Microsoft",
        "2021-08-18",
        "2026-10-13",
        Some("2031-10-14"),
    ),
    (
        "Oracle Database",
        "12c",
        "database",
        "Oracle",
        "2013-06-25",
        "2022-03-31",
        None,
    ),
    (
        "Oracle Database",
        "19c",
        "database",
        "Oracle",
        "2019-02-13",
        "2029-12-31",
        Some("2032-12-31"),
    ),
    (
        "SQL Server",
        "2014",
        "database",
        "Microsoft",
        "2014-06-05",
        "2019-07-09",
        Some("2024-07-09"),
    ),
    (
        "SQL Server",
        "2019",
        "database",
        "Microsoft",
        "2019-11-04",
        "2025-02-28",
        Some("2030-01-08"),
    ),
    (
        "PostgreSQL",
        "11",
        "database",
        "PostgreSQL Global Development Group",
        "2018-10-18",
        "2023-11-09",
        None,
    ),
    (
        "PostgreSQL",
        "15",
        "database",
        "PostgreSQL Global Development Group",
        "2022-10-13",
        "2027-11-11",
        None,
    ),
];

fn date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// The six strategies, in display order.
fn strategies(ctx: &Ctx) -> Vec<NewSixrStrategyDefinition> {
    let at = Some(ts(ctx.as_of, 365, 0));
    STRATEGIES
        .iter()
        .enumerate()
        .map(
            |(i, (s, name, desc, effort, weeks))| NewSixrStrategyDefinition {
                id: id("sixr_strategy", name),
                strategy: *s,
                name: name.to_string(),
                description: desc.to_string(),
                typical_effort: effort.to_string(),
                typical_duration_weeks: Some(*weeks),
                display_order: i as i32 + 1,
                created_at: at,
                updated_at: at,
            },
        )
        .collect()
}

/// The technology catalogue.
fn technologies(ctx: &Ctx) -> Vec<NewTechnologyCatalogEntry> {
    let at = Some(ts(ctx.as_of, 365, 0));
    TECHNOLOGIES
        .iter()
        .map(
            |(name, version, category, vendor, rel, eos, eoes)| NewTechnologyCatalogEntry {
                id: technology_id(name, version),
                name: name.to_string(),
                version: version.to_string(),
                category: category.to_string(),
                vendor: vendor.to_string(),
                release_date: date(rel),
                end_of_support: date(eos),
                end_of_extended_support: eoes.and_then(date),
                created_at: at,
                updated_at: at,
            },
        )
        .collect()
}

const INFO: StageInfo = StageInfo {
    id: ID,
    description: "6R strategies (6) and the technology catalogue (25); the only stage allowed in production",
    tables: TABLES,
    allowed_in_prod: true,
    ..StageInfo::DEFAULT
};

/// Stage 00: see the module docs.
pub struct ReferenceData;

impl Stage for ReferenceData {
    fn info(&self) -> &'static StageInfo {
        &INFO
    }
    fn run<'a>(
        &'a self,
        ctx: &'a StageCtx<'a>,
        conn: &'a mut AsyncPgConnection,
    ) -> BoxFuture<'a, Result<StageOutput>> {
        Box::pin(async move {
            // The INSERT path: small tables, counted by comparing them before and after.
            let snapshot = Snapshot::take(conn, TABLES).await?;
            let strategies = strategies(ctx);
            // Natural key: the enum value (sixr_strategies_strategy_key).
            crate::insert_or_update!(
                conn,
                sixr_strategies,
                strategies,
                (strategy),
                [
                    name,
                    description,
                    typical_effort,
                    typical_duration_weeks,
                    display_order,
                    created_at,
                    updated_at
                ]
            );
            let techs = technologies(ctx);
            // Natural key: (name, version) (technology_catalog_name_version_key).
            crate::insert_or_update!(
                conn,
                technology_catalog,
                techs,
                (name, version),
                [
                    category,
                    vendor,
                    release_date,
                    end_of_support,
                    end_of_extended_support,
                    created_at,
                    updated_at
                ]
            );
            Ok(StageOutput {
                counts: snapshot.counts(conn).await?,
                secret: None,
            })
        })
    }
    fn expected<'a>(&self, ctx: &'a Ctx) -> Vec<Expected<'a>> {
        vec![
            Expected::insert(&expected::SIXR_STRATEGIES, strategies(ctx)),
            Expected::insert(&expected::TECHNOLOGY_CATALOG, technologies(ctx)),
        ]
    }
}
