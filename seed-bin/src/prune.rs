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
        let clear = clear_references(conn, list.table).await?;
        let mut deleted = 0u64;
        for chunk in list.ids.chunks(IDS_PER_DELETE) {
            // Optional references to a pruned row are cleared first: the tenant keys are
            // `NO ACTION` (a distributed database cannot SET NULL part of its key), so a row
            // still pointed at could not go.
            for sql in &clear {
                diesel::sql_query(sql)
                    .bind::<Array<SqlUuid>, _>(chunk)
                    .bind::<Array<SqlUuid>, _>(&tenants)
                    .execute(conn)
                    .await
                    .map_err(SeedError::db(format!(
                        "clearing references to {}",
                        list.table
                    )))?;
            }
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

#[derive(diesel::QueryableByName)]
struct Reference {
    #[diesel(sql_type = diesel::sql_types::Text)]
    tab: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    col: String,
}

/// `UPDATE … SET col = NULL` statements (ids `$1`, tenants `$2`) for every foreign key into
/// `table` whose one column besides `client_account_id` is nullable: the references the
/// schema calls optional.
async fn clear_references(conn: &mut AsyncPgConnection, table: &str) -> Result<Vec<String>> {
    let refs: Vec<Reference> = diesel::sql_query(
        "SELECT c.conrelid::regclass::text AS tab, a.attname::text AS col
           FROM pg_constraint c
           JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
          WHERE c.contype = 'f' AND c.confrelid = to_regclass('public.' || quote_ident($1))
            AND c.confdeltype IN ('a', 'r')
            AND a.attname <> 'client_account_id' AND NOT a.attnotnull
            AND (SELECT count(*) FROM unnest(c.conkey) k
                  JOIN pg_attribute x ON x.attrelid = c.conrelid AND x.attnum = k
                 WHERE x.attname <> 'client_account_id') = 1
            AND EXISTS (SELECT 1 FROM pg_attribute t WHERE t.attrelid = c.conrelid
                         AND t.attname = 'client_account_id' AND NOT t.attisdropped)",
    )
    .bind::<diesel::sql_types::Text, _>(table)
    .load(conn)
    .await
    .map_err(SeedError::db(format!("reading the references to {table}")))?;
    Ok(refs
        .into_iter()
        .map(|r| {
            let col = quote_ident(&r.col);
            format!(
                "UPDATE {} SET {col} = NULL WHERE {col} = ANY($1) AND client_account_id = ANY($2)",
                r.tab
            )
        })
        .collect())
}
