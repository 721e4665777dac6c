//! A fresh load's foreign keys, checked once per constraint instead of once per row.
//!
//! Into an empty table, PostgreSQL's per-row foreign-key triggers were more than half of the
//! server's work in a `--scale 1000` seed: every row probes each parent's index and locks the
//! parent row it found. A fresh load may instead insert with the triggers off
//! (`SET LOCAL session_replication_role = replica` around its `INSERT … SELECT`s) and, before
//! the stage goes on, check each constraint with one anti-join over the whole table, after
//! locking the parent table in SHARE mode so no parent row can change or go away before the
//! stage commits: the guarantee the triggers give, at set-based cost.
//!
//! Only where that is exactly equivalent: the role may set the parameter (a superuser, or
//! `GRANT SET ON PARAMETER session_replication_role`), the table is a plain table without
//! rules or triggers of its own that fire on INSERT (replica mode would skip those too), every
//! foreign key is MATCH SIMPLE, and the role may lock each parent in SHARE mode (UPDATE, DELETE
//! or TRUNCATE on it). Anywhere else the triggers run as usual.

use super::{BulkError, BulkTable, Result, ident};
use diesel::sql_types::{Bool, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tokio_postgres::Client;

/// Whether the loader's role may turn triggers off for its own transaction. Asked once per
/// loader, outside any stage transaction (a failed probe must not abort one).
pub(super) async fn may_defer(holder: &Client) -> bool {
    let superuser = holder
        .query_one("SELECT current_setting('is_superuser') = 'on'", &[])
        .await
        .map(|r| r.get::<_, bool>(0))
        .unwrap_or(false);
    if superuser {
        return true;
    }
    // PostgreSQL 15 and later grant SET on a superuser-only parameter; older servers have no
    // such function, and their error only means "no".
    holder
        .query_one(
            "SELECT has_parameter_privilege('session_replication_role', 'SET')",
            &[],
        )
        .await
        .map(|r| r.get::<_, bool>(0))
        .unwrap_or(false)
}

/// One foreign key of the loaded table.
struct Constraint {
    name: String,
    columns: Vec<String>,
    /// The parent, schema-qualified and quoted.
    parent: String,
    parent_columns: Vec<String>,
}

/// The foreign keys a fresh load into one table checks itself.
pub(super) struct Deferred {
    table: &'static str,
    constraints: Vec<Constraint>,
}

impl Deferred {
    /// The table's constraints when its load may run without the per-row triggers, else
    /// `None`. Reads the catalog on `probe` (committed DDL only: the schema is migrated).
    pub(super) async fn plan(probe: &Client, t: &BulkTable) -> Result<Option<Deferred>> {
        let fail = |doing: &'static str| {
            let table = t.table.to_string();
            move |e: tokio_postgres::Error| BulkError::Database {
                table,
                doing: doing.to_string(),
                cause: super::describe(&e),
            }
        };
        let qualified = format!("public.{}", ident(t.table));
        let plain: bool = probe
            .query_one(
                "SELECT c.relkind = 'r' AND NOT c.relhasrules AND NOT EXISTS ( \
                   SELECT 1 FROM pg_trigger g WHERE g.tgrelid = c.oid AND NOT g.tgisinternal \
                   AND (g.tgtype::int & 4) <> 0) \
                 FROM pg_class c WHERE c.oid = $1::text::regclass",
                &[&qualified],
            )
            .await
            .map_err(fail("reading the table's triggers"))?
            .get(0);
        if !plain {
            return Ok(None);
        }
        let rows = probe
            .query(
                "SELECT c.conname::text, format('%I.%I', n.nspname, r.relname), \
                   c.confmatchtype = 's' AND (has_table_privilege(c.confrelid, 'UPDATE') \
                     OR has_table_privilege(c.confrelid, 'DELETE') \
                     OR has_table_privilege(c.confrelid, 'TRUNCATE')), \
                   ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, i) \
                         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i), \
                   ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, i) \
                         JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i) \
                 FROM pg_constraint c JOIN pg_class r ON r.oid = c.confrelid \
                 JOIN pg_namespace n ON n.oid = r.relnamespace \
                 WHERE c.contype = 'f' AND c.conrelid = $1::text::regclass \
                 ORDER BY c.conname",
                &[&qualified],
            )
            .await
            .map_err(fail("reading the table's foreign keys"))?;
        let mut constraints = Vec::with_capacity(rows.len());
        for r in rows {
            if !r.get::<_, bool>(2) {
                // MATCH FULL rejects partly-null keys, which the check below lets through; and
                // the SHARE lock on the parent needs one of these privileges.
                return Ok(None);
            }
            constraints.push(Constraint {
                name: r.get(0),
                parent: r.get(1),
                columns: r.get(3),
                parent_columns: r.get(4),
            });
        }
        Ok(Some(Deferred {
            table: t.table,
            constraints,
        }))
    }

    /// Checks every constraint over the whole table (the load's rows: it was empty), inside
    /// the stage's transaction on `conn`; the first row without a parent fails the load.
    pub(super) async fn check(&self, conn: &mut AsyncPgConnection) -> Result<()> {
        // The anti-joins hash the parent's keys; the default 4 MB spills to disk at scale.
        self.exec(conn, "SET LOCAL work_mem = '64MB'").await?;
        for c in &self.constraints {
            self.check_one(conn, c).await?;
        }
        self.exec(conn, "SET LOCAL work_mem TO DEFAULT").await
    }

    async fn check_one(&self, conn: &mut AsyncPgConnection, c: &Constraint) -> Result<()> {
        let child = format!("public.{}", ident(self.table));
        let non_null = c
            .columns
            .iter()
            .map(|col| format!("t.{} IS NOT NULL", ident(col)))
            .collect::<Vec<_>>()
            .join(" AND ");
        #[derive(diesel::QueryableByName)]
        struct Any {
            #[diesel(sql_type = Bool)]
            any: bool,
        }
        // A constraint no row uses needs no lock: locking its parent would only wait for a
        // stage that writes the parent, for nothing.
        let used: Any = diesel::sql_query(format!(
            "SELECT EXISTS (SELECT 1 FROM {child} t WHERE {non_null}) AS any"
        ))
        .get_result(conn)
        .await
        .map_err(self.merge_error())?;
        if !used.any {
            return Ok(());
        }
        // SHARE: no other transaction can insert, update or delete parent rows until the
        // stage commits, so what the check saw stays true (the triggers lock each row instead).
        self.exec(conn, &format!("LOCK TABLE {} IN SHARE MODE", c.parent))
            .await?;
        let matches = c
            .columns
            .iter()
            .zip(&c.parent_columns)
            .map(|(col, pcol)| format!("p.{} = t.{}", ident(pcol), ident(col)))
            .collect::<Vec<_>>()
            .join(" AND ");
        let key = c
            .columns
            .iter()
            .map(|col| format!("t.{}::text", ident(col)))
            .collect::<Vec<_>>()
            .join(", ");
        #[derive(diesel::QueryableByName)]
        struct Orphan {
            #[diesel(sql_type = Nullable<Text>)]
            key: Option<String>,
        }
        let orphan: Vec<Orphan> = diesel::sql_query(format!(
            "SELECT concat_ws(', ', {key}) AS key FROM {child} t WHERE {non_null} \
             AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE {matches}) LIMIT 1",
            parent = c.parent
        ))
        .load(conn)
        .await
        .map_err(self.merge_error())?;
        match orphan.into_iter().next() {
            None => Ok(()),
            Some(o) => Err(BulkError::ForeignKey {
                table: self.table.to_string(),
                constraint: c.name.clone(),
                columns: c.columns.join(", "),
                key: o.key.unwrap_or_default(),
                parent: c.parent.clone(),
            }),
        }
    }

    async fn exec(&self, conn: &mut AsyncPgConnection, sql: &str) -> Result<()> {
        diesel::sql_query(sql)
            .execute(conn)
            .await
            .map(|_| ())
            .map_err(self.merge_error())
    }

    fn merge_error(&self) -> impl Fn(diesel::result::Error) -> BulkError + '_ {
        |source| BulkError::Merge {
            table: self.table.to_string(),
            hint: " (while checking the loaded rows' foreign keys)".to_string(),
            source,
        }
    }
}
