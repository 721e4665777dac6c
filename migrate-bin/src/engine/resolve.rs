//! Recording by hand what the engine could not: the outcome of a non-transactional migration
//! a person finished or undid (`migrate resolve`), and the operator's leave to apply
//! migrations out of order. Both are audited; a claim the database contradicts is refused.

use diesel::sql_types::{Bool, Text};
use diesel_async::{AsyncConnection, RunQueryDsl, SimpleAsyncConnection};

use super::locked::Locked;
use super::plan::{OutOfOrder, Plan, check_known_version};
use crate::error::MigrateError;
use crate::locks;
use crate::source::Migration;
use crate::store::{self, MigrationRecord};

/// What `migrate resolve` will record, checked against the database under the lock.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Resolution {
    /// Version.
    pub version: String,
    /// Name.
    pub name: String,
    /// True: mark applied; false: mark rolled back.
    pub applied: bool,
    /// What was checked in the database, one line each (e.g. `index public.x exists and is valid`).
    pub checked: Vec<String>,
    /// The recorded failure, if any (`failed on …: error`).
    pub failure: Option<String>,
    #[serde(skip)]
    migration: Migration,
}

impl Resolution {
    /// `applied` or `rolled back`.
    pub fn claim(&self) -> &'static str {
        if self.applied {
            "applied"
        } else {
            "rolled back"
        }
    }
}

#[derive(diesel::QueryableByName)]
struct Present {
    #[diesel(sql_type = Bool)]
    present: bool,
}

impl Locked {
    /// Checks that `version` is a pending non-transactional migration and that what its
    /// up.sql creates (named indexes, tables, added columns) matches the claim: all there
    /// (and indexes valid) for `applied`, none left for rolled back. Changes nothing.
    pub async fn prepare_resolve(
        &mut self,
        version: &str,
        applied: bool,
    ) -> Result<Resolution, MigrateError> {
        let found = self
            .session
            .migrations
            .iter()
            .find(|m| m.version == version)
            .cloned();
        let Some(m) = found else {
            let known = check_known_version(
                &self.session.migrations,
                version,
                "`resolve VERSION`",
                &[],
                &self.session.source_desc,
            );
            return Err(known.err().unwrap_or_else(|| MigrateError::Database {
                context: "finding the migration to resolve".into(),
                error: format!("{version} is known but could not be found"),
            }));
        };
        let claim = if applied { "applied" } else { "rolled back" };
        let refuse = |reason: String| MigrateError::ResolveContradicted {
            version: m.version.clone(),
            name: m.name.clone(),
            claim,
            reason,
        };
        if self
            .session
            .applied()
            .await?
            .iter()
            .any(|a| a.version == version)
        {
            return Err(refuse(if applied {
                "it is already recorded as applied; there is nothing to resolve".into()
            } else {
                "it is recorded as applied; revert it with `migrate down` instead".into()
            }));
        }
        if m.run_in_transaction {
            return Err(refuse(
                "it runs in a transaction, so a failure rolled it back completely and nothing \
                 is left to resolve; run `migrate up` to apply it"
                    .into(),
            ));
        }
        let failure = self
            .verification
            .partial_failures
            .iter()
            .find(|f| f.version == version)
            .map(|f| {
                format!(
                    "failed on {} after {} statement(s): {}",
                    f.failed_at.format("%Y-%m-%d %H:%M:%S UTC"),
                    f.statements_done.unwrap_or(0),
                    f.error.as_deref().unwrap_or("unknown error")
                )
            });
        let (checked, contradictions) = self.check_created_objects(&m, applied).await?;
        if !contradictions.is_empty() {
            return Err(refuse(contradictions.join("; ")));
        }
        Ok(Resolution {
            version: m.version.clone(),
            name: m.name.clone(),
            applied,
            checked,
            failure,
            migration: m,
        })
    }

    /// What the database says about the objects `m` creates: lines that agree with the
    /// claim, and lines that contradict it (each saying what to do).
    async fn check_created_objects(
        &mut self,
        m: &Migration,
        applied: bool,
    ) -> Result<(Vec<String>, Vec<String>), MigrateError> {
        let mut agree = Vec::new();
        let mut contradict = Vec::new();
        let ctx = "checking what the migration creates";
        let names: Vec<String> = crate::split::created_indexes(&m.up_sql)
            .into_iter()
            .map(|c| c.name)
            .collect();
        let found = if names.is_empty() {
            Vec::new()
        } else {
            store::indexes_named(&mut self.session.conn, &names).await?
        };
        for name in &names {
            match found.iter().find(|i| &i.relname == name) {
                Some(i) if i.valid && applied => {
                    agree.push(format!("index {} exists and is valid", i.qualified))
                }
                Some(i) if applied => contradict.push(format!(
                    "index {q} is INVALID (its CREATE INDEX CONCURRENTLY did not finish): drop it \
                     (DROP INDEX CONCURRENTLY {q}) and build it again, or run `migrate up --repair`",
                    q = i.qualified
                )),
                Some(i) => contradict.push(format!(
                    "index {q} still exists{}: drop it (DROP INDEX CONCURRENTLY {q}) first",
                    if i.valid { "" } else { " (INVALID)" },
                    q = i.qualified
                )),
                None if applied => contradict.push(format!(
                    "index {name} does not exist: build it first (its CREATE INDEX statement)"
                )),
                None => agree.push(format!("index {name} does not exist")),
            }
        }
        for lock in locks::statement_locks(&m.up_sql) {
            if !lock.creates {
                continue;
            }
            let exists = store::relation_exists(&mut self.session.conn, &lock.table)
                .await
                .map_err(|e| MigrateError::db(ctx, &e))?;
            let t = &lock.table;
            match (exists, applied) {
                (true, true) => agree.push(format!("table {t} exists")),
                (false, false) => agree.push(format!("table {t} does not exist")),
                (false, true) => contradict.push(format!("table {t} does not exist")),
                (true, false) => contradict.push(format!("table {t} still exists")),
            }
        }
        for (table, column) in locks::added_columns(&m.up_sql) {
            let row: Present = diesel::sql_query(
                "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) \
                 AND attname = $2 AND attnum > 0 AND NOT attisdropped) AS present",
            )
            .bind::<Text, _>(&table)
            .bind::<Text, _>(&column)
            .get_result(&mut self.session.conn)
            .await
            .map_err(|e| MigrateError::db(ctx, &e))?;
            match (row.present, applied) {
                (true, true) => agree.push(format!("column {table}.{column} exists")),
                (false, false) => agree.push(format!("column {table}.{column} does not exist")),
                (false, true) => contradict.push(format!("column {table}.{column} does not exist")),
                (true, false) => contradict.push(format!("column {table}.{column} still exists")),
            }
        }
        Ok((agree, contradict))
    }

    /// Records `r`: applied (diesel's row, our checksum, the audit row, in one statement) or
    /// rolled back (an audit row that ends its failure, so the next `up` runs it again).
    pub async fn resolve(&mut self, r: &Resolution) -> Result<(), MigrateError> {
        self.start_run().await?;
        let run_id = self.run.unwrap_or_default();
        let m = &r.migration;
        let detail = format!(
            "marked {} by hand (migrate resolve); checked: {}",
            r.claim(),
            if r.checked.is_empty() {
                "nothing its up.sql creates could be checked".to_string()
            } else {
                r.checked.join("; ")
            }
        );
        let record = MigrationRecord {
            run_id,
            version: &m.version,
            name: &m.name,
            action: "resolve",
            run_in_transaction: m.run_in_transaction,
            duration_ms: None,
            error: None,
            statements_done: None,
            detail: Some(&detail),
        };
        let applied = r.applied;
        let checksum = m.checksum.clone();
        self.session
            .conn
            .transaction::<_, diesel::result::Error, _>(async |conn| {
                if applied {
                    conn.batch_execute(store::DIESEL_TABLE_DDL).await?;
                    store::record_step(conn, Some(&checksum), &record).await
                } else {
                    store::record_migration(conn, &record).await
                }
            })
            .await
            .map_err(|e| MigrateError::db(format!("recording the outcome of {}", m.version), &e))
    }

    /// Writes to the audit log that `late` is applied out of order with the operator's
    /// leave (`--allow-out-of-order`). Starts the run's audit entry.
    pub async fn record_out_of_order(
        &mut self,
        plan: &Plan,
        late: &OutOfOrder,
    ) -> Result<(), MigrateError> {
        self.start_run().await?;
        let run_id = self.run.unwrap_or_default();
        let detail = format!(
            "--allow-out-of-order: older than the newest applied migration {}",
            late.newest_applied
        );
        for m in plan
            .migrations()
            .iter()
            .filter(|m| late.versions.contains(&m.version))
        {
            store::record_migration(
                &mut self.session.conn,
                &MigrationRecord {
                    run_id,
                    version: &m.version,
                    name: &m.name,
                    action: "out_of_order",
                    run_in_transaction: m.run_in_transaction,
                    duration_ms: None,
                    error: None,
                    statements_done: None,
                    detail: Some(&detail),
                },
            )
            .await
            .map_err(|e| MigrateError::db("recording --allow-out-of-order in the audit log", &e))?;
        }
        Ok(())
    }
}
