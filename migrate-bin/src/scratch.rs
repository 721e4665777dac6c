//! Scratch databases: a throw-away database on the target's server that migrations are
//! applied into (by the same engine as `up`), for commands that need "the schema the
//! migrations make" next to the live one (`verify --schema`, the prod gate, rehearsals).
//!
//! A scratch database is either created here (named [`PREFIX`]`<unix secs>_<pid>_<n>`,
//! dropped when its user is done, also on error) or given with `--scratch-url` for roles
//! that cannot create databases (then it must be empty at the start, and is emptied again
//! at the end instead of dropped).
//!
//! A run that is killed cannot drop its database. While a scratch database is in use this
//! process keeps a connection to it open (the keeper), so "nobody is connected and it is
//! older than [`LEFTOVER_AGE`]" identifies a leftover, whatever host or process made it;
//! every creation first sweeps such leftovers.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use diesel_async::AsyncPgConnection;
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

use crate::engine::{Done, RunOptions, Session};
use crate::env::Environment;
use crate::error::MigrateError;
use crate::policy::{self, ConnInfo};
use crate::schema_catalog::{self, Catalog};
use crate::source::Migration;

/// Every database this module creates starts with this, so an operator (and the sweep)
/// can tell scratch databases from real ones.
pub(crate) const PREFIX: &str = "groundwork_scratch_";

/// A scratch database nobody is connected to is a leftover of a killed run once it is this
/// old (younger ones may be between their creation and their keeper's connect).
const LEFTOVER_AGE: Duration = Duration::from_secs(60);

/// Numbers the scratch databases of this process.
static NEXT: AtomicU32 = AtomicU32::new(1);

/// A scratch database in use. End it with [`Scratch::discard`] (or use [`with_scratch`],
/// which always does); one that is only dropped is left for a later run's sweep.
pub(crate) struct Scratch {
    info: ConnInfo,
    /// Where it was created from, when this module created it (and so drops it).
    created: Option<Created>,
    /// Held open for the scratch database's whole life, so the sweep of a concurrent run
    /// sees it in use.
    keeper: Option<Client>,
}

struct Created {
    /// A connection settings of the target database, from which the scratch one is
    /// created and dropped (any database of the server can run CREATE/DROP DATABASE, and
    /// the target is one the role is known to reach).
    admin: ConnInfo,
    name: String,
}

/// Creates (or, with `given`, checks) a scratch database, runs `work` on it and discards
/// it whatever `work` returned. `purpose` names the command in messages (e.g.
/// `verify --schema`).
pub(crate) async fn with_scratch<T>(
    target: &ConnInfo,
    given: Option<&ConnInfo>,
    purpose: &str,
    work: impl AsyncFnOnce(&mut Scratch) -> Result<T, MigrateError>,
) -> Result<T, MigrateError> {
    let mut scratch = Scratch::open(target, given, purpose).await?;
    tracing::debug!(database = %scratch.name(), "scratch database ready");
    let result = work(&mut scratch).await;
    tracing::debug!("scratch work done; discarding the scratch database");
    // DROP DATABASE makes the server checkpoint (PostgreSQL 15): on a busy server this is
    // most of a short run's time.
    let discarded = scratch.discard().await;
    tracing::debug!("scratch database discarded");
    let value = result?;
    discarded?;
    Ok(value)
}

impl Scratch {
    /// Creates a scratch database on `target`'s server, or takes `given` (which must be
    /// empty). Sweeps leftovers of killed runs first.
    pub(crate) async fn open(
        target: &ConnInfo,
        given: Option<&ConnInfo>,
        purpose: &str,
    ) -> Result<Self, MigrateError> {
        match given {
            Some(given) => Self::take_given(target, given).await,
            None => Self::create(target, purpose).await,
        }
    }

    async fn create(target: &ConnInfo, purpose: &str) -> Result<Self, MigrateError> {
        let admin = open_client(target).await?;
        sweep(&admin).await;
        let (name, quoted) = loop {
            let name = new_name();
            let quoted = policy::quote_ident(&name);
            match admin
                .batch_execute(&format!("CREATE DATABASE {quoted}"))
                .await
            {
                Ok(()) => break (name, quoted),
                Err(e) if e.code() == Some(&SqlState::DUPLICATE_DATABASE) => continue,
                Err(e) if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => {
                    return Err(MigrateError::ScratchNotPermitted {
                        role: current_user(&admin).await,
                        server: target.host_port(),
                        purpose: purpose.to_string(),
                    });
                }
                Err(e) => {
                    return Err(driver_error(
                        format!("creating the scratch database {name}"),
                        &e,
                    ));
                }
            }
        };
        // Tells an operator who finds it what it is; failing to comment is harmless.
        let comment = format!(
            "scratch database of `migrate {purpose}` ({}): dropped when the run ends; a later \
             run drops it if it was left behind",
            policy::application_name()
        );
        if let Err(e) = admin
            .batch_execute(&format!(
                "COMMENT ON DATABASE {quoted} IS {}",
                quote_literal(&comment)
            ))
            .await
        {
            tracing::debug!(error = %e, "commenting the scratch database");
        }
        let mut scratch = Self {
            info: target.with_database(&name),
            created: Some(Created {
                admin: target.clone(),
                name,
            }),
            keeper: None,
        };
        drop(admin);
        match open_client(&scratch.info).await {
            Ok(keeper) => {
                scratch.keeper = Some(keeper);
                Ok(scratch)
            }
            Err(e) => {
                if let Err(drop_err) = scratch.discard().await {
                    tracing::warn!(error = %drop_err, "dropping the scratch database");
                }
                Err(e)
            }
        }
    }

    async fn take_given(target: &ConnInfo, given: &ConnInfo) -> Result<Self, MigrateError> {
        if given.host_port() == target.host_port() && given.database() == target.database() {
            return Err(MigrateError::ScratchUnusable {
                url: given.redacted(),
                reason: "is the database being checked itself".into(),
            });
        }
        let keeper = open_client(given).await.map_err(|e| match e {
            MigrateError::Unreachable { url, reason } => MigrateError::Unreachable {
                url,
                reason: format!(
                    "{reason}; this is the scratch database of --scratch-url (or \
                     MIGRATE_SCRATCH_URL): check that URL"
                ),
            },
            other => other,
        })?;
        let found = user_objects(&keeper).await?;
        if !found.is_empty() {
            return Err(MigrateError::ScratchUnusable {
                url: given.redacted(),
                reason: format!(
                    "is not empty: it holds {}",
                    crate::summary::list(&found, false)
                ),
            });
        }
        Ok(Self {
            info: given.clone(),
            created: None,
            keeper: Some(keeper),
        })
    }

    /// Where to connect to the scratch database (never print it: it may hold a password;
    /// its `Display` is redacted).
    pub(crate) fn conn_info(&self) -> &ConnInfo {
        &self.info
    }

    /// The scratch database's name.
    pub(crate) fn name(&self) -> String {
        self.info.database()
    }

    /// A new dedicated connection to the scratch database.
    pub(crate) async fn connect(&self) -> Result<AsyncPgConnection, MigrateError> {
        policy::connect(self.conn_info(), &policy::application_name()).await
    }

    /// Applies `migrations` (in the order given; normally a prefix or subset of the source in
    /// version order) through the engine, as `up` would in a test database: the same
    /// transactions, splitting and bookkeeping. Returns what was applied.
    pub(crate) async fn apply(
        &self,
        migrations: Vec<Migration>,
        source_desc: &str,
    ) -> Result<Vec<Done>, MigrateError> {
        let conn = self.connect().await?;
        let mut opts = RunOptions::new(Environment::Test, "scratch");
        opts.lock_retries = 0;
        let session = Session::from_parts(conn, migrations, source_desc.to_string(), opts);
        let mut locked = session.lock(Duration::from_secs(5), &mut |_, _| {}).await?;
        let result = async {
            let plan = locked.plan_up(None).await?;
            locked.execute(plan, &mut |_| {}).await
        }
        .await;
        locked.finish(&result).await;
        result.map_err(|e| match e {
            MigrateError::MigrationFailed {
                version,
                name,
                error,
                ..
            } => MigrateError::Database {
                context: format!(
                    "applying the migrations into the scratch database {} (to build the schema \
                     they make)",
                    self.name()
                ),
                error: format!(
                    "migration {version} {name} failed there: {error}. It is applied in the \
                     database being checked, so its file has probably changed since (`migrate \
                     verify` compares checksums) or it depends on something outside the \
                     migrations; nothing was changed"
                ),
            },
            other => other,
        })
    }

    /// The schema of the scratch database (see [`crate::schema_catalog`]).
    pub(crate) async fn catalog(&self) -> Result<Catalog, MigrateError> {
        let mut conn = self.connect().await?;
        schema_catalog::snapshot(&mut conn).await
    }

    /// Drops the database (when it was created here) or empties it (when it was given).
    pub(crate) async fn discard(mut self) -> Result<(), MigrateError> {
        match self.created.take() {
            Some(created) => {
                // Our own connections go first: the keeper here, any other by FORCE.
                self.keeper = None;
                let admin = open_client(&created.admin).await?;
                admin
                    .batch_execute(&format!(
                        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                        policy::quote_ident(&created.name)
                    ))
                    .await
                    .map_err(|e| {
                        driver_error(
                            format!(
                                "dropping the scratch database {} (drop it by hand: DROP DATABASE {})",
                                created.name, created.name
                            ),
                            &e,
                        )
                    })
            }
            None => match &self.keeper {
                Some(conn) => empty_database(conn).await.map_err(|e| {
                    driver_error(
                        format!(
                            "emptying the scratch database {} (--scratch-url) after use",
                            self.info.redacted()
                        ),
                        &e,
                    )
                }),
                None => Ok(()),
            },
        }
    }
}

impl Scratch {
    /// Keeps the database for a look after the run (`rehearse --keep`): one created here is
    /// renamed to `keep_as`, out of the sweep's reach (the sweep drops [`PREFIX`] names), and
    /// one given with `--scratch-url` is left as it is. Returns the name it keeps. The
    /// caller's own connections to it must be closed (a rename needs it unused).
    pub(crate) async fn keep(mut self, keep_as: &str) -> Result<String, MigrateError> {
        let Some(created) = self.created.take() else {
            return Ok(self.name());
        };
        self.keeper = None;
        let admin = open_client(&created.admin).await?;
        let rename = format!(
            "ALTER DATABASE {} RENAME TO {}",
            policy::quote_ident(&created.name),
            policy::quote_ident(keep_as)
        );
        // Closed connections leave the server a moment after the client lets go of them.
        let mut attempt = 0;
        loop {
            match admin.batch_execute(&rename).await {
                Ok(()) => return Ok(keep_as.to_string()),
                Err(e) if e.code() == Some(&SqlState::OBJECT_IN_USE) && attempt < 50 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => {
                    return Err(driver_error(
                        format!(
                            "renaming the kept scratch database {} to {keep_as} (it is kept \
                             under its old name; the next run that creates a scratch database \
                             drops it)",
                            created.name
                        ),
                        &e,
                    ));
                }
            }
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(created) = &self.created {
            tracing::warn!(
                database = %created.name,
                "scratch database not dropped; the next run that creates one drops it"
            );
        }
    }
}

fn new_name() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    format!(
        "{PREFIX}{secs}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// When a scratch name says it was created (unix seconds), if it is one of ours.
fn created_at(name: &str) -> Option<u64> {
    name.strip_prefix(PREFIX)?.split('_').next()?.parse().ok()
}

/// A plain driver connection whose I/O runs on its own task until the client is dropped.
/// Plain rather than diesel: the failures here are told apart by SQLSTATE.
async fn open_client(info: &ConnInfo) -> Result<Client, MigrateError> {
    let (client, connection) = policy::connect_client(info, &policy::application_name()).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "scratch connection ended");
        }
    });
    Ok(client)
}

fn driver_error(context: impl Into<String>, e: &tokio_postgres::Error) -> MigrateError {
    MigrateError::Database {
        context: context.into(),
        error: policy::describe_driver_error(e),
    }
}

fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

async fn current_user(conn: &Client) -> String {
    match conn.query_one("SELECT current_user::text", &[]).await {
        Ok(row) => row.try_get(0).unwrap_or_else(|_| "(unknown)".into()),
        Err(_) => "(unknown)".into(),
    }
}

/// Drops the scratch databases of killed runs: ours by name, nobody connected, old enough.
/// Best effort: a database another role owns, or one that gained a connection meanwhile,
/// is left alone.
async fn sweep(conn: &Client) {
    let found = conn
        .query(
            "SELECT d.datname::text FROM pg_database d \
             WHERE starts_with(d.datname, $1) \
               AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)",
            &[&PREFIX],
        )
        .await;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    for row in found.unwrap_or_default() {
        let Ok(name) = row.try_get::<_, String>(0) else {
            continue;
        };
        let Some(at) = created_at(&name) else {
            continue;
        };
        if now.saturating_sub(at) < LEFTOVER_AGE.as_secs() {
            continue;
        }
        // No FORCE: a database someone connected to since the query is not a leftover.
        match conn
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {}",
                policy::quote_ident(&name)
            ))
            .await
        {
            Ok(()) => {
                tracing::info!(database = %name, "dropped a scratch database a killed run left")
            }
            Err(e) => {
                tracing::debug!(database = %name, error = %e, "leftover scratch database kept")
            }
        }
    }
}

/// What a database holds that a fresh one does not: schemas, relations, types, routines
/// and extensions outside the system catalogs (`plpgsql` and an empty `public` are part of
/// every new database). At most a few names, for the message.
async fn user_objects(conn: &Client) -> Result<Vec<String>, MigrateError> {
    let query = format!(
        "WITH objects(name) AS ( \
           SELECT 'schema ' || nspname FROM pg_namespace n WHERE {USER_SCHEMA} AND nspname <> 'public' \
           UNION ALL SELECT 'extension ' || extname FROM pg_extension WHERE extname <> 'plpgsql' \
           UNION ALL SELECT CASE c.relkind WHEN 'v' THEN 'view ' WHEN 'm' THEN 'materialized view ' \
                   WHEN 'S' THEN 'sequence ' WHEN 'f' THEN 'foreign table ' ELSE 'table ' END \
                 || c.oid::regclass::text FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {USER_SCHEMA} \
               AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') \
           UNION ALL SELECT 'type ' || t.oid::regtype::text FROM pg_type t \
             JOIN pg_namespace n ON n.oid = t.typnamespace WHERE {USER_SCHEMA} AND t.typrelid = 0 \
               AND t.typelem = 0 \
           UNION ALL SELECT 'routine ' || p.oid::regprocedure::text FROM pg_proc p \
             JOIN pg_namespace n ON n.oid = p.pronamespace WHERE {USER_SCHEMA}) \
         SELECT name, count(*) OVER () FROM objects \
         ORDER BY name NOT LIKE 'table %', name LIMIT 5"
    );
    let rows = conn
        .query(&query, &[])
        .await
        .map_err(|e| driver_error("checking that the scratch database is empty", &e))?;
    let total: i64 = rows.first().and_then(|r| r.try_get(1).ok()).unwrap_or(0);
    let mut names: Vec<String> = rows.iter().filter_map(|r| r.try_get(0).ok()).collect();
    if total > 5 {
        names.push(format!("{} more", total - 5));
    }
    Ok(names)
}

/// A namespace that is not the system's (`n` is pg_namespace).
const USER_SCHEMA: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') \
     AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'";

/// Empties a given scratch database again (it was empty before we used it): extensions,
/// then every schema but `public`, then what `public` holds. `DROP OWNED` is not used: it
/// would also revoke the role's privileges on the database itself.
async fn empty_database(conn: &Client) -> Result<(), tokio_postgres::Error> {
    let rounds = [
        "SELECT format('DROP EXTENSION IF EXISTS %I CASCADE', extname) \
         FROM pg_extension WHERE extname <> 'plpgsql'"
            .to_string(),
        format!(
            "SELECT format('DROP SCHEMA IF EXISTS %I CASCADE', nspname) \
             FROM pg_namespace n WHERE {USER_SCHEMA} AND nspname <> 'public'"
        ),
        "SELECT format('DROP %s IF EXISTS %s CASCADE', \
                CASE relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' \
                  WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, \
                oid::regclass) \
         FROM pg_class WHERE relnamespace = 'public'::regnamespace \
           AND relkind IN ('r', 'p', 'v', 'm', 'S', 'f')"
            .to_string(),
        "SELECT format('DROP ROUTINE IF EXISTS %s CASCADE', oid::regprocedure) \
         FROM pg_proc WHERE pronamespace = 'public'::regnamespace"
            .to_string(),
        "SELECT format('DROP %s IF EXISTS %s CASCADE', \
                CASE typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, oid::regtype) \
         FROM pg_type WHERE typnamespace = 'public'::regnamespace AND typrelid = 0 \
           AND typelem = 0 AND typtype <> 'm'"
            .to_string(),
    ];
    for query in rounds {
        for row in conn.query(&query, &[]).await? {
            if let Ok(statement) = row.try_get::<_, String>(0) {
                conn.batch_execute(&statement).await?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_prefix_and_their_creation_time() {
        let name = new_name();
        assert!(name.starts_with(PREFIX), "{name}");
        assert!(name.len() <= 63, "{name}");
        let at = created_at(&name).expect("a creation time");
        assert!(at > 1_700_000_000, "{name}");
        assert_ne!(new_name(), name);
    }

    #[test]
    fn foreign_names_are_not_ours() {
        assert_eq!(created_at("groundwork"), None);
        assert_eq!(created_at("groundwork_scratch_manual"), None);
        assert_eq!(
            created_at("groundwork_scratch_1700000000_1_1"),
            Some(1_700_000_000)
        );
    }
}
