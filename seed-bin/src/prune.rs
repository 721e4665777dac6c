//! `seed --prune`: before a stage writes, deletes the rows of its tables that it would not
//! generate for the seeded tenants (extra rows, and rows whose natural key was edited, which
//! the upsert cannot match), inside the stage's transaction, so the stage's run leaves exactly
//! its generated rows. Rows of other tenants are never touched: the comparison is scoped to
//! the seeded tenants, each delete is scoped again, and rows of shared tables that another
//! tenant references are kept ([`Comparer::prunable`]).

use crate::compare::Comparer;
use crate::error::{Result, SeedError};
use crate::stages::stage::{Ctx, Stage};
use diesel::sql_types::{Array, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use groundwork_migrate::ConnInfo;
use groundwork_migrate::policy::quote_ident;
use std::collections::BTreeMap;
use uuid::Uuid;

/// Ids per `DELETE`: one array parameter each, far below any protocol limit.
const IDS_PER_DELETE: usize = 10_000;

/// Deletes what `--prune` removes from `stage`'s tables on `conn` (the stage's transaction,
/// whose stage lock is held); returns the rows deleted per table.
pub async fn run(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    stage: &dyn Stage,
    target: &ConnInfo,
) -> Result<BTreeMap<String, u64>> {
    let comparer = Comparer::connect(target).await?;
    let lists = comparer.prunable(ctx, stage).await?;
    let tenants: Vec<Uuid> = ctx.tenants().iter().map(|t| t.id).collect();
    let mut out = BTreeMap::new();
    // Children first: a parent's delete would cascade to them and hide their own count.
    for list in lists.iter().rev() {
        let scope = match (list.table, list.tenant_owned) {
            ("client_accounts", _) => " AND id = ANY($2)",
            (_, true) => " AND client_account_id = ANY($2)",
            (_, false) => " AND cardinality($2) >= 0",
        };
        let sql = format!(
            "DELETE FROM public.{} WHERE id = ANY($1){scope}",
            quote_ident(list.table)
        );
        let mut deleted = 0u64;
        for chunk in list.ids.chunks(IDS_PER_DELETE) {
            deleted += diesel::sql_query(&sql)
                .bind::<Array<SqlUuid>, _>(chunk)
                .bind::<Array<SqlUuid>, _>(&tenants)
                .execute(conn)
                .await
                .map_err(SeedError::db(format!("pruning {}", list.table)))?
                as u64;
        }
        out.insert(list.table.to_string(), deleted);
    }
    Ok(out)
}
