//! `seed verify`: checks the database against the catalogue (docs/seed-data.md): every
//! stage's tables row by row against what the stage generates ([`tables`]), referential
//! integrity, tenant isolation, and the distributions the demo dataset promises. Prints a
//! readable report; the caller exits 9 when anything is off.

mod tables;

use crate::compare::Comparer;
use crate::error::{Result, SeedError};
use crate::stages::stage::{Ctx, Stage};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use groundwork_migrate::ConnInfo;
use uuid::Uuid;

#[derive(diesel::QueryableByName)]
struct N {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(diesel::QueryableByName)]
struct Fk {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    child: String,
    #[diesel(sql_type = Text)]
    parent: String,
    #[diesel(sql_type = Text)]
    child_cols: String,
    #[diesel(sql_type = Text)]
    parent_cols: String,
}

struct Check {
    name: String,
    expected: String,
    actual: String,
    ok: bool,
}

struct Report {
    checks: Vec<Check>,
}

impl Report {
    fn eq(&mut self, name: impl Into<String>, expected: i64, actual: i64) {
        self.checks.push(Check {
            name: name.into(),
            expected: expected.to_string(),
            actual: actual.to_string(),
            ok: expected == actual,
        });
    }
    fn at_least(&mut self, name: impl Into<String>, lo: i64, actual: i64) {
        self.checks.push(Check {
            name: name.into(),
            expected: format!(">= {lo}"),
            actual: actual.to_string(),
            ok: actual >= lo,
        });
    }
    fn range(&mut self, name: impl Into<String>, lo: i64, hi: i64, actual: i64) {
        self.checks.push(Check {
            name: name.into(),
            expected: format!("{lo}..={hi}"),
            actual: actual.to_string(),
            ok: (lo..=hi).contains(&actual),
        });
    }
}

async fn scalar(conn: &mut AsyncPgConnection, sql: &str) -> Result<i64> {
    let r: N = diesel::sql_query(sql)
        .get_result(conn)
        .await
        .map_err(SeedError::db(format!(
            "running the check `{}`",
            sql.split_whitespace().collect::<Vec<_>>().join(" ")
        )))?;
    Ok(r.n)
}

async fn integrity(conn: &mut AsyncPgConnection, r: &mut Report) -> Result<()> {
    // Every foreign key of the public schema, checked by query (MATCH SIMPLE: rows with a
    // NULL in the key are not references).
    let fks: Vec<Fk> = diesel::sql_query(
        "SELECT c.conname::text AS name, cl.relname::text AS child, pl.relname::text AS parent,
                (SELECT string_agg('c.' || quote_ident(a.attname), ', ' ORDER BY k.ord) FROM unnest(c.conkey) WITH ORDINALITY k(att, ord)
                   JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.att) AS child_cols,
                (SELECT string_agg('p.' || quote_ident(a.attname), ', ' ORDER BY k.ord) FROM unnest(c.confkey) WITH ORDINALITY k(att, ord)
                   JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.att) AS parent_cols
         FROM pg_constraint c JOIN pg_class cl ON cl.oid = c.conrelid JOIN pg_class pl ON pl.oid = c.confrelid
         JOIN pg_namespace ns ON ns.oid = cl.relnamespace
         WHERE c.contype = 'f' AND ns.nspname = 'public' ORDER BY 1",
    )
    .load(conn)
    .await
    .map_err(SeedError::db("listing foreign keys"))?;
    let mut orphans = 0;
    let mut cross = 0;
    let mut broken = Vec::new();
    for fk in &fks {
        let n = scalar(conn, &format!(
            "SELECT count(*)::bigint AS n FROM public.\"{}\" c WHERE ROW({}) IS NOT NULL AND NOT EXISTS (SELECT 1 FROM public.\"{}\" p WHERE ROW({}) = ROW({}))",
            fk.child, fk.child_cols, fk.parent, fk.parent_cols, fk.child_cols
        ))
        .await?;
        if n > 0 {
            broken.push(format!("{} ({n})", fk.name));
        }
        orphans += n;
    }
    r.eq(
        format!(
            "referential integrity: orphans over {} foreign keys{}",
            fks.len(),
            if broken.is_empty() {
                String::new()
            } else {
                format!(" [{}]", broken.join(", "))
            }
        ),
        0,
        orphans,
    );
    // Tenant isolation: a reference between two tenant-owned rows never crosses tenants.
    let mut crossing = Vec::new();
    for fk in &fks {
        if fk.parent == "client_accounts" {
            continue;
        }
        let both = scalar(conn, &format!(
            "SELECT count(*)::bigint AS n FROM information_schema.columns WHERE table_schema = 'public' AND column_name = 'client_account_id' AND table_name IN ('{}', '{}')",
            fk.child, fk.parent
        ))
        .await?;
        if both < 2 || fk.child == fk.parent {
            continue;
        }
        let n = scalar(conn, &format!(
            "SELECT count(*)::bigint AS n FROM public.\"{}\" c JOIN public.\"{}\" p ON ROW({}) = ROW({}) WHERE p.client_account_id <> c.client_account_id",
            fk.child, fk.parent, fk.parent_cols, fk.child_cols
        ))
        .await?;
        if n > 0 {
            crossing.push(format!("{} ({n})", fk.name));
        }
        cross += n;
    }
    r.eq(
        format!(
            "tenant isolation: cross-tenant references{}",
            if crossing.is_empty() {
                String::new()
            } else {
                format!(" [{}]", crossing.join(", "))
            }
        ),
        0,
        cross,
    );
    Ok(())
}

async fn demo_distributions(conn: &mut AsyncPgConnection, ctx: &Ctx, r: &mut Report) -> Result<()> {
    let tenants = ctx.tenants();
    let Some(main) = tenants.as_slice().first() else {
        return Ok(());
    };
    let tid: Uuid = main.id;
    let t = format!("'{tid}'::uuid");
    let q = |cond: &str| {
        format!("SELECT count(*)::bigint AS n FROM assets WHERE client_account_id = {t} AND {cond}")
    };
    r.eq("democorp assets", 60, scalar(conn, &q("true")).await?);
    r.eq(
        "democorp applications",
        10,
        scalar(conn, &q("asset_type = 'application'")).await?,
    );
    r.eq(
        "democorp Linux servers",
        20,
        scalar(
            conn,
            &q("asset_type = 'server' AND operating_system = 'Linux'"),
        )
        .await?,
    );
    r.eq(
        "democorp Windows servers",
        15,
        scalar(
            conn,
            &q("asset_type = 'server' AND operating_system = 'Windows'"),
        )
        .await?,
    );
    r.eq(
        "democorp databases",
        10,
        scalar(conn, &q("asset_type = 'database'")).await?,
    );
    r.eq(
        "democorp network devices",
        5,
        scalar(conn, &q("asset_type = 'network_device'")).await?,
    );
    let f = |cond: &str| {
        format!(
            "SELECT count(*)::bigint AS n FROM discovery_flows WHERE client_account_id = {t} AND {cond}"
        )
    };
    r.eq("democorp flows", 5, scalar(conn, &f("true")).await?);
    r.eq(
        "democorp flows completed",
        3,
        scalar(conn, &f("status = 'completed'")).await?,
    );
    r.eq("democorp flows completed at distinct final phases", 3, scalar(conn, &format!("SELECT count(DISTINCT current_phase)::bigint AS n FROM discovery_flows WHERE client_account_id = {t} AND status = 'completed'")).await?);
    r.eq(
        "democorp flows in progress at field_mapping",
        1,
        scalar(
            conn,
            &f("status = 'in_progress' AND current_phase = 'field_mapping'"),
        )
        .await?,
    );
    r.eq(
        "democorp flows failed with error details",
        1,
        scalar(conn, &f("status = 'failed' AND error_details IS NOT NULL")).await?,
    );
    r.eq("democorp imports (csv, json completed; spreadsheet in progress)", 3, scalar(conn, &format!(
        "SELECT count(*)::bigint AS n FROM data_imports WHERE client_account_id = {t} AND (
           (mime_type = 'text/csv' AND status = 'completed') OR (mime_type = 'application/json' AND status = 'completed')
           OR (mime_type LIKE 'application/vnd.openxmlformats%' AND status = 'in_progress'))")).await?);
    r.range(
        "democorp raw import records",
        150,
        200,
        scalar(
            conn,
            &format!(
                "SELECT count(*)::bigint AS n FROM raw_import_records WHERE client_account_id = {t}"
            ),
        )
        .await?,
    );
    r.eq("democorp valid raw records merge into distinct assets", 60, scalar(conn, &format!("SELECT count(DISTINCT asset_id)::bigint AS n FROM raw_import_records WHERE client_account_id = {t} AND is_valid")).await?);
    r.eq("democorp valid raw records not linked to an asset", 0, scalar(conn, &format!("SELECT count(*)::bigint AS n FROM raw_import_records WHERE client_account_id = {t} AND is_valid AND asset_id IS NULL")).await?);
    r.eq("democorp users with their roles", 4, scalar(conn, &format!(
        "SELECT count(*)::bigint AS n FROM users u JOIN user_account_roles r ON r.user_id = u.id AND r.client_account_id = {t}
         WHERE (u.email, r.role::text, r.access_level::text) IN (('demo@democorp.com', 'ENGAGEMENT_MANAGER', 'READ_WRITE'),
           ('analyst@democorp.com', 'ANALYST', 'READ_WRITE'), ('viewer@democorp.com', 'VIEWER', 'READ_ONLY'),
           ('client.admin@democorp.com', 'CLIENT_ADMIN', 'ADMIN')) AND u.external_id LIKE 'auth0|%'")).await?);
    r.eq(
        "users without an auth0| identity",
        0,
        scalar(
            conn,
            "SELECT count(*)::bigint AS n FROM users WHERE external_id NOT LIKE 'auth0|%'",
        )
        .await?,
    );
    r.eq("democorp test agent key (argon2id, read/write/admin)", 1, scalar(conn, &format!(
        "SELECT count(*)::bigint AS n FROM api_keys WHERE client_account_id = {t} AND key_hash LIKE '$argon2id$%' AND permissions @> '[\"read\", \"write\", \"admin\"]'")).await?);
    Ok(())
}

async fn graph_and_waves(conn: &mut AsyncPgConnection, ctx: &Ctx, r: &mut Report) -> Result<()> {
    r.eq("self-dependencies", 0, scalar(conn, "SELECT count(*)::bigint AS n FROM asset_dependencies WHERE source_asset_id = target_asset_id").await?);
    for t in ctx.tenants().iter().take(3) {
        let cycles = scalar(conn, &format!(
            "WITH RECURSIVE walk(start, node, depth) AS (
               SELECT source_asset_id, target_asset_id, 1 FROM asset_dependencies WHERE client_account_id = '{id}'
               UNION ALL
               SELECT w.start, d.target_asset_id, w.depth + 1 FROM walk w
               JOIN asset_dependencies d ON d.client_account_id = '{id}' AND d.source_asset_id = w.node
               WHERE w.depth < 6 AND w.node <> w.start)
             SELECT count(DISTINCT start)::bigint AS n FROM walk WHERE node = start", id = t.id)).await?;
        r.at_least(
            format!("{}: assets on a dependency cycle", t.slug),
            1,
            cycles,
        );
    }
    // An asset's strategy is the one its assessments recommend.
    let strategy = "(SELECT max(a2.recommended_strategy::text) FROM assessments a2 WHERE a2.asset_id = a.id AND a2.client_account_id = a.client_account_id)";
    r.eq("migrating assets not in exactly one wave", 0, scalar(conn, &format!(
        "SELECT count(*)::bigint AS n FROM assets a WHERE {strategy} NOT IN ('retire', 'retain')
         AND (SELECT count(*) FROM wave_assets w WHERE w.asset_id = a.id AND w.client_account_id = a.client_account_id) <> 1")).await?);
    r.eq("retired or retained assets in a wave", 0, scalar(conn, &format!(
        "SELECT count(*)::bigint AS n FROM assets a JOIN wave_assets w ON w.asset_id = a.id AND w.client_account_id = a.client_account_id
         WHERE {strategy} IN ('retire', 'retain')")).await?);
    r.eq("wave strategy differs from the assessments'", 0, scalar(conn, &format!(
        "SELECT count(*)::bigint AS n FROM assets a JOIN wave_assets w ON w.asset_id = a.id AND w.client_account_id = a.client_account_id
         WHERE w.strategy::text <> {strategy}")).await?);
    r.eq(
        "applications scheduled before a database they depend on",
        0,
        scalar(
            conn,
            "SELECT count(*)::bigint AS n FROM asset_dependencies d
         JOIN assets s ON s.id = d.source_asset_id AND s.asset_type = 'application'
         JOIN assets t ON t.id = d.target_asset_id AND t.asset_type = 'database'
         JOIN wave_assets ws ON ws.asset_id = s.id JOIN migration_waves vs ON vs.id = ws.wave_id
         JOIN wave_assets wt ON wt.asset_id = t.id JOIN migration_waves vt ON vt.id = wt.wave_id
         WHERE vs.wave_number < vt.wave_number",
        )
        .await?,
    );
    r.eq("engagements with waves whose pilot is not wave 0", 0, scalar(conn,
        "SELECT count(*)::bigint AS n FROM (SELECT engagement_id FROM migration_waves GROUP BY engagement_id
           HAVING count(*) FILTER (WHERE is_pilot AND wave_number = 0) <> 1 OR count(*) FILTER (WHERE is_pilot) <> 1) x").await?);
    r.eq("waves planned out of order", 0, scalar(conn,
        "SELECT count(*)::bigint AS n FROM migration_waves a JOIN migration_waves b ON a.engagement_id = b.engagement_id
         AND a.wave_number < b.wave_number AND a.planned_start_date > b.planned_start_date").await?);
    Ok(())
}

/// Runs every check, prints the report, returns the number of failed checks and tables that
/// differ from what their stages generate.
pub async fn run(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    target: &ConnInfo,
    stages: &[&'static dyn Stage],
) -> Result<usize> {
    let mut r = Report { checks: Vec::new() };
    let present = scalar(conn, "SELECT count(*)::bigint AS n FROM pg_tables WHERE schemaname = 'public' AND tablename = 'assets'").await?;
    if present == 0 {
        r.eq("schema present (run `seed --stage all`)", 1, 0);
    } else {
        integrity(conn, &mut r).await?;
        demo_distributions(conn, ctx, &mut r).await?;
        graph_and_waves(conn, ctx, &mut r).await?;
    }
    let diffs = if present == 0 {
        Vec::new()
    } else {
        let comparer = Comparer::connect(target).await?;
        tables::compare(&comparer, ctx, stages).await?
    };
    let dirty: usize = diffs.iter().map(|d| d.dirty()).sum();
    let failed = r.checks.iter().filter(|c| !c.ok).count();
    if ctx.reporter.format() == crate::cli::LogFormat::Json {
        for event in tables::json(&diffs, ctx) {
            crate::out!("{event}");
        }
        for c in &r.checks {
            crate::out!(
                "{}",
                serde_json::json!({"event": "check", "check": c.name, "expected": c.expected, "actual": c.actual, "ok": c.ok})
            );
        }
    } else if !(ctx_quiet(ctx) && failed == 0) {
        let mut table = Table::new();
        table
            .load_preset(UTF8_FULL_CONDENSED)
            .set_header(["check", "expected", "actual", "result"]);
        for c in r.checks.iter().filter(|c| !ctx_quiet(ctx) || !c.ok) {
            table.add_row([
                c.name.clone(),
                c.expected.clone(),
                c.actual.clone(),
                if c.ok { "ok".into() } else { "FAILED".into() },
            ]);
        }
        crate::out!("{table}");
        for line in tables::text(&diffs, ctx, ctx_quiet(ctx)) {
            crate::out!("{line}");
        }
        let compared: usize = diffs.iter().map(|d| d.tables.len()).sum();
        crate::out!(
            "{} checks, {} failed; {} tables compared row by row, {} differ",
            r.checks.len(),
            failed,
            compared,
            dirty
        );
    } else if dirty > 0 {
        for line in tables::text(&diffs, ctx, true) {
            crate::out!("{line}");
        }
    }
    Ok(failed + dirty)
}

fn ctx_quiet(ctx: &Ctx) -> bool {
    ctx.reporter.quiet()
}
