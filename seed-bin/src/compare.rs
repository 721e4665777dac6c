//! Row-by-row comparison of a stage's table with the rows the stage generates
//! ([`Stage::expected`]): which rows are edited (and in which columns), missing or extra.
//! `seed verify` reports it; `seed --prune` deletes what a rerun cannot repair.
//!
//! The generated rows are streamed by binary `COPY` into a temporary table of a connection of
//! its own (flat memory in `--scale`; nothing is written to the database), and PostgreSQL
//! compares them with the live rows by its own equality, so a jsonb document with its keys in
//! another order or a numeric at the column's scale is never a false difference. Only the
//! differing rows' ids leave the server, and values only for the few rows shown.
//!
//! Scope: a tenant-owned table is compared for the seeded tenants only (the tenants this run
//! generates); rows of any other tenant are not the seed's and are neither reported nor
//! touched. A table without `client_account_id` (reference data, users) is compared whole.

use crate::error::{Result, SeedError};
use crate::fingerprint::OwnedTable;
use crate::stages::expected::Expected;
use crate::stages::stage::{Ctx, Stage};
use groundwork_migrate::ConnInfo;
use groundwork_migrate::policy::quote_ident;
use tokio_postgres::Client;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use uuid::Uuid;

/// Columns whose values are never printed, compared or not: secrets and their lookups.
pub const SECRET_COLUMNS: &[&str] = &["key_hash", "key_prefix", "password_hash"];

/// A value shown in a report is cut to this many characters (flow documents are KBs).
const VALUE_CHARS: usize = 80;

/// One column of an edited row.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ColumnDiff {
    pub column: String,
    /// `None` for SQL `NULL`, or for a secret (then `secret` is true and nothing is shown).
    pub expected: Option<String>,
    pub actual: Option<String>,
    pub secret: bool,
}

/// An edited row: its id and the columns that differ.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EditedRow {
    pub id: Uuid,
    pub columns: Vec<ColumnDiff>,
}

/// How one table differs from what its stage generates.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct TableDiff {
    pub table: String,
    /// Rows the stage generates.
    pub expected_rows: u64,
    /// Rows of the table in the comparison's scope: the seeded tenants' rows, and the rows of a
    /// shared table that no other tenant references.
    pub actual_rows: u64,
    pub edited: u64,
    pub missing: u64,
    pub extra: u64,
    /// Edited rows per column (every edited row counted, not only the ones shown).
    pub edited_columns: Vec<(String, u64)>,
    /// The first edited rows by id, with their differing columns.
    pub edited_rows: Vec<EditedRow>,
    /// The first missing and extra rows' ids.
    pub missing_ids: Vec<Uuid>,
    pub extra_ids: Vec<Uuid>,
    /// Edited rows whose natural key (a unique constraint's columns) differs: an upsert cannot
    /// match them, so a rerun fails on their id until `--prune` removes them.
    pub key_edited: u64,
}

impl TableDiff {
    /// Whether the table holds exactly the generated rows.
    pub fn is_clean(&self) -> bool {
        self.edited == 0 && self.missing == 0 && self.extra == 0
    }
}

/// A connection of its own for comparisons (its temporary tables die with it).
pub struct Comparer {
    client: Client,
}

struct ColumnInfo {
    name: String,
}

fn fail(table: &str, doing: &str) -> impl FnOnce(tokio_postgres::Error) -> SeedError {
    let what = format!("{doing} {table}").trim_end().to_string();
    move |e| SeedError::Compare {
        doing: what,
        cause: groundwork_migrate::policy::describe_driver_error(&e),
    }
}

/// Column `i` of a row of the comparison's own queries (whose types it fixes); a mismatch is a
/// bug, reported as one rather than a panic.
fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
    r: &'a tokio_postgres::Row,
    i: usize,
) -> Result<T> {
    r.try_get(i)
        .map_err(|e| SeedError::Internal(format!("reading column {i} of a comparison query: {e}")))
}

/// Cuts a value for display, on a character boundary.
fn shorten(v: String) -> String {
    if v.chars().count() <= VALUE_CHARS {
        v
    } else {
        let cut: String = v.chars().take(VALUE_CHARS).collect();
        format!("{cut}…")
    }
}

impl Comparer {
    /// Connects (with the run's connect deadline and redaction).
    pub async fn connect(cfg: &ConnInfo) -> Result<Comparer> {
        let (client, connection) =
            groundwork_migrate::policy::connect_client(cfg, "groundwork-seed-compare").await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "comparison connection ended with an error");
            }
        });
        // `DROP TABLE IF EXISTS` of a table that is not there would log a notice per table.
        client
            .batch_execute("SET client_min_messages = warning")
            .await
            .map_err(fail("", "setting up the comparison connection"))?;
        Ok(Comparer { client })
    }

    /// Compares every table of `stage`, showing up to `sample` rows of each kind per table.
    pub async fn stage(
        &self,
        ctx: &Ctx,
        stage: &dyn Stage,
        sample: usize,
    ) -> Result<Vec<TableDiff>> {
        let scope: Vec<Uuid> = ctx.tenants().iter().map(|t| t.id).collect();
        let mut out = Vec::new();
        for exp in stage.expected(ctx) {
            let owned = stage
                .tables()
                .iter()
                .find(|t| t.name == exp.table)
                .copied()
                .ok_or_else(|| {
                    SeedError::Internal(format!(
                        "stage {} generates rows for {}, which it does not own",
                        stage.id(),
                        exp.table
                    ))
                })?;
            let d = self.table(exp, &owned, &scope, sample).await?;
            out.push(d);
            self.drop_temp().await?;
        }
        Ok(out)
    }

    /// The ids `--prune` removes from `stage`'s tables, table by table: extra rows (in the
    /// comparison's scope, see [`Comparer::load_and_diff`]), and rows whose natural key was
    /// edited (a rerun cannot match them).
    pub async fn prunable(&self, ctx: &Ctx, stage: &dyn Stage) -> Result<Vec<PruneList>> {
        let scope: Vec<Uuid> = ctx.tenants().iter().map(|t| t.id).collect();
        let mut out = Vec::new();
        for exp in stage.expected(ctx) {
            let table = exp.table;
            let owned = stage
                .tables()
                .iter()
                .find(|t| t.name == table)
                .copied()
                .ok_or_else(|| {
                    SeedError::Internal(format!("{table} is not owned by {}", stage.id()))
                })?;
            let plan = self.load_and_diff(exp, &owned, &scope).await?;
            let key_cond = if plan.key_positions.is_empty() {
                "false".to_string()
            } else {
                plan.key_positions
                    .iter()
                    .map(|i| format!("d.cols[{i}]"))
                    .collect::<Vec<_>>()
                    .join(" OR ")
            };
            let rows = self
                .client
                .query(
                    &format!(
                        "SELECT d.id FROM pg_temp.gw_diff d
                         WHERE d.kind = 'extra' OR (d.kind = 'edited' AND ({key_cond}))
                         ORDER BY d.id"
                    ),
                    &[],
                )
                .await
                .map_err(fail(table, "listing the rows to prune of"))?;
            out.push(PruneList {
                table,
                tenant_owned: plan.tenant_owned,
                ids: rows.iter().map(|r| get(r, 0)).collect::<Result<_>>()?,
            });
            self.drop_temp().await?;
        }
        Ok(out)
    }

    /// ` AND NOT EXISTS (…)` per foreign key into `table` from a tenant-owned table: the row
    /// `l.id` is not referenced by a row of a tenant outside `$1`.
    async fn referenced_by_other_tenants(&self, table: &str) -> Result<String> {
        let rows = self
            .client
            .query(
                "SELECT cl.relname::text, a.attname::text
                 FROM pg_constraint c
                 JOIN pg_class cl ON cl.oid = c.conrelid
                 JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
                 WHERE c.contype = 'f' AND c.confrelid = to_regclass('public.' || quote_ident($1))
                   AND cardinality(c.conkey) = 1
                   AND EXISTS (SELECT 1 FROM pg_attribute t WHERE t.attrelid = c.conrelid
                               AND t.attname = 'client_account_id' AND NOT t.attisdropped)",
                &[&table],
            )
            .await
            .map_err(fail(table, "reading the foreign keys into"))?;
        rows.iter()
            .map(|r| {
                let (child, col): (String, String) = (get(r, 0)?, get(r, 1)?);
                Ok(format!(
                    " AND NOT EXISTS (SELECT 1 FROM public.{} c WHERE c.{} = l.id AND c.client_account_id <> ALL($1))",
                    quote_ident(&child),
                    quote_ident(&col)
                ))
            })
            .collect()
    }

    async fn drop_temp(&self) -> Result<()> {
        self.client
            .batch_execute("DROP TABLE IF EXISTS pg_temp.gw_expected, pg_temp.gw_diff")
            .await
            .map_err(fail("", "dropping the comparison's temporary tables"))
    }

    async fn columns(&self, table: &str) -> Result<Vec<ColumnInfo>> {
        let rows = self
            .client
            .query(
                "SELECT a.attname::text FROM pg_attribute a
                 WHERE a.attrelid = to_regclass('public.' || quote_ident($1)) AND a.attnum > 0
                   AND NOT a.attisdropped ORDER BY a.attnum",
                &[&table],
            )
            .await
            .map_err(fail(table, "reading the columns of"))?;
        rows.iter()
            .map(|r| Ok(ColumnInfo { name: get(r, 0)? }))
            .collect()
    }

    /// Columns of the table's unique constraints other than the primary key.
    async fn key_columns(&self, table: &str) -> Result<Vec<String>> {
        let rows = self
            .client
            .query(
                "SELECT DISTINCT a.attname::text FROM pg_index i
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
                 WHERE i.indrelid = to_regclass('public.' || quote_ident($1))
                   AND i.indisunique AND NOT i.indisprimary",
                &[&table],
            )
            .await
            .map_err(fail(table, "reading the unique keys of"))?;
        rows.iter().map(|r| get(r, 0)).collect()
    }

    /// Copies the generated rows into `pg_temp.gw_expected` and the differing ids into
    /// `pg_temp.gw_diff (id, kind, cols)`, where `cols[i]` says whether compared column `i`
    /// differs (edited rows only).
    ///
    /// A row of a shared table (no `client_account_id`: users, reference data) that the stage
    /// does not generate is extra only if no row of another tenant references it: a user of
    /// a tenant the seed does not generate is that tenant's, not a stray row of the seed's.
    async fn load_and_diff(
        &self,
        exp: Expected<'_>,
        owned: &OwnedTable,
        scope: &[Uuid],
    ) -> Result<Plan> {
        let table = owned.name;
        let q = quote_ident(table);
        let all = self.columns(table).await?;
        if !all.iter().any(|c| c.name == "id") {
            return Err(SeedError::Internal(format!(
                "{table} has no `id` column; the comparison matches rows by id"
            )));
        }
        let compared: Vec<&str> = all
            .iter()
            .map(|c| c.name.as_str())
            .filter(|c| !owned.not_fingerprinted.contains(c))
            .collect();
        let tenant_owned = all.iter().any(|c| c.name == "client_account_id");
        self.client
            .batch_execute(&format!(
                "DROP TABLE IF EXISTS pg_temp.gw_expected, pg_temp.gw_diff;
                 CREATE TEMP TABLE gw_expected (LIKE public.{q} INCLUDING DEFAULTS)"
            ))
            .await
            .map_err(fail(table, "preparing the comparison of"))?;
        let cols = exp
            .columns
            .iter()
            .map(|c| quote_ident(c))
            .collect::<Vec<_>>()
            .join(", ");
        let types: Vec<Type> = self
            .client
            .prepare(&format!("SELECT {cols} FROM pg_temp.gw_expected LIMIT 0"))
            .await
            .map_err(fail(table, "reading the column types of"))?
            .columns()
            .iter()
            .map(|c| c.type_().clone())
            .collect();
        let sink = self
            .client
            .copy_in(&format!(
                "COPY pg_temp.gw_expected ({cols}) FROM STDIN (FORMAT binary)"
            ))
            .await
            .map_err(fail(table, "copying the generated rows of"))?;
        let writer = BinaryCopyInWriter::new(sink, &types);
        tokio::pin!(writer);
        let mut expected_rows = 0u64;
        for row in exp.rows {
            let mut fields = Vec::with_capacity(types.len());
            row.write(&mut fields);
            let refs: Vec<&(dyn ToSql + Sync)> =
                fields.iter().map(|f| f as &(dyn ToSql + Sync)).collect();
            writer
                .as_mut()
                .write(&refs)
                .await
                .map_err(fail(table, "copying the generated rows of"))?;
            expected_rows += 1;
        }
        writer
            .finish()
            .await
            .map_err(fail(table, "copying the generated rows of"))?;
        let scope_cond = match (table, tenant_owned) {
            ("client_accounts", _) => "l.id = ANY($1)",
            (_, true) => "l.client_account_id = ANY($1)",
            // Still names the parameter, so every form binds the same one.
            (_, false) => "cardinality($1::uuid[]) >= 0",
        };
        let live = |p: &str| {
            compared
                .iter()
                .map(|c| format!("{p}.{}", quote_ident(c)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let flags = compared
            .iter()
            .map(|c| format!("l.{0} IS DISTINCT FROM e.{0}", quote_ident(c)))
            .collect::<Vec<_>>()
            .join(", ");
        // The statistics let the planner hash-join instead of looping at `--scale 1000`.
        self.client
            .batch_execute(
                "ANALYZE pg_temp.gw_expected;
                 CREATE TEMP TABLE gw_diff (id uuid, kind text, cols boolean[])",
            )
            .await
            .map_err(fail(table, "comparing"))?;
        let others = if tenant_owned || table == "client_accounts" {
            String::new()
        } else {
            self.referenced_by_other_tenants(table).await?
        };
        let sql = format!(
            "INSERT INTO pg_temp.gw_diff
             SELECT coalesce(l.id, e.id),
                    CASE WHEN l.id IS NULL THEN 'missing' WHEN e.id IS NULL THEN 'extra' ELSE 'edited' END,
                    CASE WHEN l.id IS NOT NULL AND e.id IS NOT NULL THEN ARRAY[{flags}] END
             FROM (SELECT * FROM public.{q} l WHERE {scope_cond}) l
             FULL JOIN pg_temp.gw_expected e ON e.id = l.id
             WHERE l.id IS NULL OR (e.id IS NULL{others})
                OR (l.id IS NOT NULL AND e.id IS NOT NULL AND ROW({}) IS DISTINCT FROM ROW({}))",
            live("l"),
            live("e"),
        );
        self.client
            .execute(&sql, &[&scope])
            .await
            .map_err(fail(table, "comparing"))?;
        let keys = self.key_columns(table).await?;
        let key_positions = compared
            .iter()
            .enumerate()
            .filter(|(_, c)| keys.iter().any(|k| k == *c))
            .map(|(i, _)| i + 1)
            .collect();
        Ok(Plan {
            tenant_owned: tenant_owned || table == "client_accounts",
            compared: compared.iter().map(|c| c.to_string()).collect(),
            key_positions,
            expected_rows,
        })
    }

    async fn table(
        &self,
        exp: Expected<'_>,
        owned: &OwnedTable,
        scope: &[Uuid],
        sample: usize,
    ) -> Result<TableDiff> {
        let table = owned.name;
        let q = quote_ident(table);
        let plan = self.load_and_diff(exp, owned, scope).await?;
        let mut d = TableDiff {
            table: table.to_string(),
            expected_rows: plan.expected_rows,
            ..TableDiff::default()
        };
        for r in self
            .client
            .query(
                "SELECT kind, count(*) FROM pg_temp.gw_diff GROUP BY kind",
                &[],
            )
            .await
            .map_err(fail(table, "counting the differences of"))?
        {
            let n = get::<i64>(&r, 1)?.max(0) as u64;
            match get::<&str>(&r, 0)? {
                "edited" => d.edited = n,
                "missing" => d.missing = n,
                _ => d.extra = n,
            }
        }
        d.actual_rows = (d.expected_rows + d.extra).saturating_sub(d.missing);
        if d.is_clean() {
            return Ok(d);
        }
        for r in self
            .client
            .query(
                "SELECT i::int, count(*) FROM pg_temp.gw_diff, unnest(cols) WITH ORDINALITY u(differs, i)
                 WHERE kind = 'edited' AND differs GROUP BY i ORDER BY i",
                &[],
            )
            .await
            .map_err(fail(table, "counting the edited columns of"))?
        {
            let i = get::<i32>(&r, 0)?.max(0) as usize;
            let n = get::<i64>(&r, 1)?.max(0) as u64;
            if let Some(c) = plan.compared.get(i.wrapping_sub(1)) {
                d.edited_columns.push((c.clone(), n));
            }
        }
        if !plan.key_positions.is_empty() {
            let cond = plan
                .key_positions
                .iter()
                .map(|i| format!("cols[{i}]"))
                .collect::<Vec<_>>()
                .join(" OR ");
            let row = self
                .client
                .query_one(
                    &format!(
                        "SELECT count(*) FROM pg_temp.gw_diff WHERE kind = 'edited' AND ({cond})"
                    ),
                    &[],
                )
                .await
                .map_err(fail(table, "counting the edited keys of"))?;
            let n: i64 = get(&row, 0)?;
            d.key_edited = n.max(0) as u64;
        }
        let ids = |kind: &'static str| {
            let client = &self.client;
            async move {
                client
                    .query(
                        "SELECT id FROM pg_temp.gw_diff WHERE kind = $1 ORDER BY id LIMIT $2",
                        &[&kind, &(sample as i64)],
                    )
                    .await
                    .map_err(fail(table, "listing the differing rows of"))?
                    .iter()
                    .map(|r| get::<Uuid>(r, 0))
                    .collect::<Result<Vec<_>>>()
            }
        };
        d.missing_ids = ids("missing").await?;
        d.extra_ids = ids("extra").await?;
        let edited_ids = ids("edited").await?;
        if !edited_ids.is_empty() {
            let text = |p: &str| {
                plan.compared
                    .iter()
                    .map(|c| {
                        if SECRET_COLUMNS.contains(&c.as_str()) {
                            "NULL::text".to_string()
                        } else {
                            format!("{p}.{}::text", quote_ident(c))
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let rows = self
                .client
                .query(
                    &format!(
                        "SELECT d.id, d.cols, ARRAY[{}] AS actual, ARRAY[{}] AS expected
                         FROM pg_temp.gw_diff d JOIN public.{q} l ON l.id = d.id
                         JOIN pg_temp.gw_expected e ON e.id = d.id
                         WHERE d.id = ANY($1) ORDER BY d.id",
                        text("l"),
                        text("e")
                    ),
                    &[&edited_ids],
                )
                .await
                .map_err(fail(table, "reading the edited rows of"))?;
            for r in rows {
                let flags: Vec<bool> = get(&r, 1)?;
                let actual: Vec<Option<String>> = get(&r, 2)?;
                let expected: Vec<Option<String>> = get(&r, 3)?;
                let columns = flags
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| **f)
                    .filter_map(|(i, _)| {
                        let name = plan.compared.get(i)?.clone();
                        let secret = SECRET_COLUMNS.contains(&name.as_str());
                        let show = |v: Option<&Option<String>>| {
                            if secret {
                                None
                            } else {
                                v.cloned().flatten().map(shorten)
                            }
                        };
                        Some(ColumnDiff {
                            expected: show(expected.get(i)),
                            actual: show(actual.get(i)),
                            column: name,
                            secret,
                        })
                    })
                    .collect();
                d.edited_rows.push(EditedRow {
                    id: get(&r, 0)?,
                    columns,
                });
            }
        }
        Ok(d)
    }
}

/// The rows `--prune` deletes from one table.
pub struct PruneList {
    pub table: &'static str,
    /// Whether the table carries `client_account_id` (the delete is scoped to the seeded
    /// tenants once more).
    pub tenant_owned: bool,
    pub ids: Vec<Uuid>,
}

/// What [`Comparer::load_and_diff`] prepared.
struct Plan {
    /// Whether rows belong to a tenant (`client_account_id`, or the tenants themselves).
    tenant_owned: bool,
    /// The compared columns, in table order (1-based positions in `gw_diff.cols`).
    compared: Vec<String>,
    /// Positions of columns that belong to a unique key.
    key_positions: Vec<usize>,
    expected_rows: u64,
}
