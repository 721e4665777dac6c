//! Snapshots: template databases holding a seeded (or only migrated) database, named after a
//! key over everything that determined their rows, so `seed reset` and the test kit can
//! clone one with `CREATE DATABASE … TEMPLATE` instead of regenerating every row.
//!
//! The test-kit API is [`Inputs`], [`SnapshotKey`] and [`ensure`]: `ensure` returns the name
//! of the snapshot for the inputs, building it first when the server has none (concurrent
//! callers build it once). Clone it with `CREATE DATABASE x TEMPLATE <name>`.
//!
//! A snapshot never holds a usable API key: the stage-01 key's hash is replaced with the hash
//! of a key nobody saw, and its ledger row says the key was never delivered, so a
//! database cloned from it either gets a fresh key (what `seed reset` does right after the
//! clone) or warns on every run until `seed --rotate-key` gives it one.

pub(crate) mod command;
mod key;
mod store;
pub(crate) mod upkeep;

pub use key::{DATASET_VERSION, KeyInputs, NAME_PREFIX, SPARE_PREFIX, SnapshotKey, spare_name};
use store::Admin;
pub use store::spare_lock_key;
pub use upkeep::SPARE_VAR;
use upkeep::Upkeep;

use crate::data;
use crate::dataset::{Dataset, stage_id};
use crate::db;
use crate::error::{Result, SeedError};
use crate::feedback::Reporter;
use crate::ledger;
use crate::migrations;
use crate::runner;
use crate::stages::STAGES;
use crate::stages::stage::{Ctx, Stage};
use chrono::NaiveDate;
use groundwork_migrate::policy::LogFormat;
use groundwork_migrate::{ConnInfo, Environment, MigrationSource};
use std::path::PathBuf;
use std::sync::Arc;

/// What a snapshot for the test kit is made of. The defaults are `seed`'s own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inputs {
    /// `--rng-seed`.
    pub rng_seed: u64,
    /// `--as-of`.
    pub as_of: NaiveDate,
    /// `--scale`.
    pub scale: u32,
    /// `--data-dir`: a folder holding `core.toml`; `None` for the embedded core data.
    pub data_dir: Option<PathBuf>,
    /// Every stage seeded (`true`), or the migrations only (`false`).
    pub seeded: bool,
}

/// `seed`'s default `--rng-seed` (checked against the flag's default by a test).
pub const DEFAULT_RNG_SEED: u64 = 42;

/// `seed`'s default `--as-of` (checked against the flag's default by a test).
pub fn default_as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 15).unwrap_or_default()
}

impl Inputs {
    /// A migrated database without rows.
    pub fn migrated() -> Self {
        Inputs {
            rng_seed: DEFAULT_RNG_SEED,
            as_of: default_as_of(),
            scale: 1,
            data_dir: None,
            seeded: false,
        }
    }

    /// The whole demo dataset (`seed --stage all`) at `scale`, with the default seed and as-of.
    pub fn seeded(scale: u32) -> Self {
        Inputs {
            scale,
            seeded: true,
            ..Self::migrated()
        }
    }

    /// The key of these inputs (reads the core data file when `data_dir` is set).
    pub fn key(&self) -> Result<SnapshotKey> {
        let core = data::load(self.data_dir.as_deref())?;
        key_of(&self.dataset(core), self.seeded)
    }

    fn dataset(&self, core: data::CoreData) -> Dataset {
        Dataset {
            rng_seed: self.rng_seed,
            as_of: self.as_of,
            scale: self.scale,
            core,
            only: None,
        }
    }
}

/// The key of `dataset` seeded with every stage (`seeded`) or only migrated.
pub(crate) fn key_of(dataset: &Dataset, seeded: bool) -> Result<SnapshotKey> {
    let migrations = MigrationSource::Embedded
        .load_migrations()?
        .into_iter()
        .map(|m| format!("{}:{}", m.version, m.checksum))
        .collect();
    let stages = if seeded {
        STAGES
            .iter()
            .map(|s| format!("{}@{}", s.id(), s.version()))
            .collect()
    } else {
        Vec::new()
    };
    Ok(SnapshotKey::new(KeyInputs {
        dataset_version: DATASET_VERSION,
        migrations,
        stages,
        rng_seed: dataset.rng_seed,
        as_of: dataset.as_of,
        scale: dataset.scale,
        core_data_sha256: dataset.core.fingerprint.clone(),
    }))
}

/// The name of the snapshot for `inputs` on the server of `server_url` (any database of that
/// server; only its host, port and credentials are used), building it when missing: a new
/// database is migrated (and seeded) under a temporary name, its API key made unusable, then
/// renamed and marked as a template. Parallel processes asking for the same inputs build it
/// once; the others wait and get the same name.
///
/// This is the test kit's API: clone the result with `CREATE DATABASE … TEMPLATE <name>`.
pub async fn ensure(server_url: &str, inputs: &Inputs) -> Result<String> {
    Ok(ensure_built(server_url, inputs).await?.0)
}

/// Drops snapshot `name` (and its spare copy) from the server of `server_url`, after the
/// restores and spare builders at work on it: the counterpart of [`ensure`] for a test kit
/// that cleans up after itself. Dropping one that is not there is no error.
pub async fn drop_snapshot(server_url: &str, name: &str) -> Result<()> {
    let info = db::parse(server_url, None)?;
    let admin = Admin::connect(&info).await?;
    if admin.exists(name).await? {
        admin.drop_snapshot(name).await
    } else if let Some(spare) = spare_name(name) {
        // The snapshot went by other means; its spare must not outlive it.
        admin.drop_snapshot(&spare).await
    } else {
        Ok(())
    }
}

/// [`ensure`], and whether this call built the snapshot.
async fn ensure_built(server_url: &str, inputs: &Inputs) -> Result<(String, bool)> {
    let info = db::parse(server_url, None)?;
    let core = data::load(inputs.data_dir.as_deref())?;
    let key = key_of(&inputs.dataset(core.clone()), inputs.seeded)?;
    let admin = Admin::connect(&info).await?;
    let name = key.database_name();
    let inputs = inputs.clone();
    let built = admin
        .build(&key, |temp| async move {
            migrations::apply_pending(&temp, Environment::Test).await?;
            if inputs.seeded {
                build_seeded(&temp, inputs.dataset(core)).await?;
            }
            Ok(())
        })
        .await?;
    Ok((name, built))
}

/// Seeds the fresh database `temp` with every stage, quietly, keeping no key and no file.
async fn build_seeded(temp: &ConnInfo, dataset: Dataset) -> Result<()> {
    let artifacts = tempfile::tempdir().map_err(|source| SeedError::Io {
        doing: "cannot create a temporary folder for the sample files in",
        path: std::env::temp_dir(),
        source,
    })?;
    let ctx = Arc::new(Ctx {
        dataset,
        artifacts_dir: artifacts.path().to_path_buf(),
        rotate_key: false,
        demo_password: None,
        reporter: Reporter::new(LogFormat::Text, true),
        write_env: None,
        deliver_keys: false,
        prune: None,
    });
    let mut conn = db::connect(temp).await?;
    ledger::ensure(&mut conn).await?;
    runner::seed(
        temp,
        &mut conn,
        &ctx,
        STAGES,
        runner::Run {
            force: false,
            keep_going: false,
            jobs: crate::cpus(),
        },
    )
    .await?;
    scrub(&mut conn).await
}

/// Makes every API key in the copy unusable and marks stage 01's key as never delivered: a
/// snapshot must not carry a key whose plaintext somebody saw. Each key's hash becomes the
/// hash of a fresh random key whose plaintext is dropped here, unseen (the column must hold
/// an argon2id string, and nobody can know a key that verifies against it).
async fn scrub(conn: &mut diesel_async::AsyncPgConnection) -> Result<()> {
    use diesel::sql_types::Text;
    use diesel_async::RunQueryDsl;
    let unknowable = domain::api_key::generate()
        .and_then(|k| domain::api_key::hash(k.plaintext()))
        .map_err(|e| {
            SeedError::Internal(format!("cannot make a key hash for the snapshot: {e}"))
        })?;
    diesel::sql_query("UPDATE public.api_keys SET key_hash = $1")
        .bind::<Text, _>(unknowable)
        .execute(conn)
        .await
        .map_err(SeedError::db("making the snapshot's API key unusable"))?;
    diesel::sql_query(
        "UPDATE groundwork.seed_ledger SET key_undelivered = true \
         WHERE id = (SELECT max(id) FROM groundwork.seed_ledger WHERE stage = $1 AND status = 'succeeded')",
    )
    .bind::<Text, _>(stage_id::CORE_ENTITIES)
    .execute(conn)
    .await
    .map_err(SeedError::db("marking the snapshot's API key as never delivered"))?;
    Ok(())
}

/// After a successful `seed --stage all` into `target`: keeps it as the snapshot of `key`
/// unless one exists, and has `upkeep` make its first spare, so that the first restore from it
/// already finds one. Never fails the run: a snapshot is an optimisation, so a problem is a
/// note saying why none was kept.
pub(crate) async fn keep(info: &ConnInfo, key: &SnapshotKey, reporter: &Reporter, upkeep: &Upkeep) {
    let target = info.database();
    let admin = match Admin::connect(info).await {
        Ok(a) => a,
        Err(e) => return reporter.note(&format!("no snapshot kept: {e}")),
    };
    let made = admin
        .create_from(&target, key, |copy| async move {
            let mut conn = db::connect(&copy).await?;
            scrub(&mut conn).await?;
            // Every snapshot is stamped test, whoever made it: the test kit clones it as
            // is, and `seed` writes the target's own stamp back after a restore.
            Stamp(None).write(&mut conn, Environment::Test).await
        })
        .await;
    match made {
        Ok(true) => {
            reporter.note(&format!(
                "kept snapshot {} of this dataset; `seed reset` restores from it",
                key.database_name()
            ));
            if let Upkeep::Detached(child) = upkeep {
                match admin.owner_of(&target).await {
                    Ok(Some(owner)) => {
                        let job = crate::cli::Maintain {
                            replaced: None,
                            spare_of: Some(key.database_name()),
                            owner: Some(owner),
                        };
                        if let Err(e) = child.start(&job) {
                            tracing::debug!(error = %e, "cannot start the spare's builder; the first restore copies the snapshot");
                        }
                    }
                    Ok(None) => {}
                    Err(e) => tracing::debug!(error = %e, "no spare made"),
                }
            }
        }
        Ok(false) => {}
        Err(e) if store::is_in_use(&e) => reporter.note(&format!(
            "no snapshot kept: other sessions are connected to {target}, and PostgreSQL copies a database only while nobody else is connected"
        )),
        Err(e) if store::is_privilege_error(&e) => reporter.note(
            "no snapshot kept: this role may not create databases (it needs CREATEDB)",
        ),
        Err(e) => reporter.note(&format!("no snapshot kept: {e}")),
    }
}

/// Whether the run's inputs allow snapshots at all, and if not why (said to the user).
pub(crate) fn unusable_because(ctx: &Ctx) -> Option<&'static str> {
    ctx.demo_password
        .as_ref()
        .map(|_| "SEED_DEMO_PASSWORD is set, and a snapshot never holds passwords")
}

/// The environment stamp of a database, kept across a restore (the snapshot carries the
/// stamp of the database it was made from).
pub(crate) struct Stamp(Option<(String, String)>);

impl Stamp {
    pub(crate) async fn read(conn: &mut diesel_async::AsyncPgConnection) -> Result<Stamp> {
        use diesel::sql_types::Text;
        use diesel_async::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = Text)]
            env: String,
            #[diesel(sql_type = Text)]
            stamped_by: String,
        }
        if !ledger_like_exists(conn, "groundwork.environment").await? {
            return Ok(Stamp(None));
        }
        let row: Option<Row> =
            diesel::sql_query("SELECT env, stamped_by FROM groundwork.environment")
                .get_result(conn)
                .await
                .map(Some)
                .or_else(|e| match e {
                    diesel::result::Error::NotFound => Ok(None),
                    e => Err(e),
                })
                .map_err(SeedError::db("reading the environment stamp"))?;
        Ok(Stamp(row.map(|r| (r.env, r.stamped_by))))
    }

    /// Writes the stamp back after the restore; a database that had none gets `env`.
    pub(crate) async fn write(
        &self,
        conn: &mut diesel_async::AsyncPgConnection,
        env: Environment,
    ) -> Result<()> {
        use diesel::sql_types::Text;
        use diesel_async::RunQueryDsl;
        let (e, by) = match &self.0 {
            Some((e, by)) => (e.clone(), by.clone()),
            None => (env.as_str().to_string(), "seed snapshot".to_string()),
        };
        diesel::sql_query("UPDATE groundwork.environment SET env = $1, stamped_by = $2")
            .bind::<Text, _>(e)
            .bind::<Text, _>(by)
            .execute(conn)
            .await
            .map_err(SeedError::db("restoring the environment stamp"))?;
        Ok(())
    }
}

async fn ledger_like_exists(conn: &mut diesel_async::AsyncPgConnection, rel: &str) -> Result<bool> {
    use diesel::sql_types::{Bool, Text};
    use diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = Bool)]
        present: bool,
    }
    let r: Row = diesel::sql_query("SELECT to_regclass($1) IS NOT NULL AS present")
        .bind::<Text, _>(rel)
        .get_result(conn)
        .await
        .map_err(SeedError::db(format!("looking for {rel}")))?;
    Ok(r.present)
}

/// How a restore treats other sessions on the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Others {
    /// `--yes`: end them.
    Disconnect,
    /// Ask on the terminal; without one, refuse (exit 4).
    Ask,
    /// Fall back to seeding (for `seed --stage all` into an empty database).
    Decline,
}

/// What a restore attempt did.
pub(crate) enum Restore {
    /// Restored; call [`Restored::finish`] before the run ends.
    Done(Restored),
    /// No restore: why (said to the user before the run falls back).
    Fallback(String),
}

/// A done restore, and the cleanup it leaves.
pub(crate) struct Restored {
    /// The snapshot restored from.
    pub name: String,
    /// Whether the restored database is the snapshot's spare, made ahead.
    pub from_spare: bool,
    cleanup: Cleanup,
}

enum Cleanup {
    /// The replaced database is being dropped by this task.
    Dropping(tokio::task::JoinHandle<Result<()>>),
    /// The detached child drops it and makes the next spare; it starts only once the run's
    /// own work is done, so that it does not compete with it.
    Child(Box<Detached>),
}

struct Detached {
    child: upkeep::Child,
    job: crate::cli::Maintain,
    /// To drop the replaced database here if the child cannot start.
    info: ConnInfo,
}

impl Restored {
    /// Awaits the drop of the replaced database, or starts the detached child that drops it
    /// and makes the next spare (without waiting for it). Returns a note for the user when
    /// the replaced database was left behind.
    pub(crate) async fn finish(self) -> Option<String> {
        let dropping = match self.cleanup {
            Cleanup::Dropping(task) => task,
            Cleanup::Child(d) => match d.child.start(&d.job) {
                Ok(()) => return None,
                Err(e) => {
                    tracing::debug!(error = %e, "cannot start the detached cleanup; dropping the replaced database now");
                    let aside = d.job.replaced.unwrap_or_default();
                    let info = d.info;
                    tokio::spawn(
                        async move { Admin::connect(&info).await?.drop_aside(&aside).await },
                    )
                }
            },
        };
        let e = match dropping.await {
            Ok(Ok(())) => return None,
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        Some(format!(
            "the replaced database was not dropped ({e}); `seed snapshot drop --all` or the next restore removes it"
        ))
    }
}

/// Replaces the target of `info` with the snapshot of `key` if there is one. The caller has
/// closed its own connections to the target.
pub(crate) async fn restore(
    info: &ConnInfo,
    key: &SnapshotKey,
    env: Environment,
    others: Others,
    upkeep: &Upkeep,
) -> Result<Restore> {
    let name = key.database_name();
    let target = info.database();
    let admin = match Admin::connect(info).await {
        Ok(a) => a,
        Err(e) => {
            return Ok(Restore::Fallback(format!(
                "cannot reach the server's maintenance database ({e})"
            )));
        }
    };
    if !admin.exists(&name).await? {
        return Ok(Restore::Fallback(format!(
            "no snapshot matches these inputs (key {})",
            &key.hex()[..12]
        )));
    }
    let sessions = admin.sessions_on(&target).await?;
    let terminate = if sessions.is_empty() {
        false
    } else {
        match others {
            Others::Disconnect => true,
            Others::Decline => {
                return Ok(Restore::Fallback(format!(
                    "snapshot {name} exists, but {} other session(s) are connected to {target}",
                    sessions.len()
                )));
            }
            Others::Ask => confirm(&target, &sessions)?,
        }
    };
    let stamp = {
        let mut conn = db::connect(info).await?;
        Stamp::read(&mut conn).await?
    };
    let Some(restored) = admin.restore(&name, &target, terminate).await? else {
        return Ok(Restore::Fallback(format!(
            "snapshot {name} was dropped while this run waited for it"
        )));
    };
    let cleanup = match upkeep {
        Upkeep::Detached(child) => Cleanup::Child(Box::new(Detached {
            child: child.clone(),
            job: crate::cli::Maintain {
                replaced: Some(restored.aside),
                spare_of: Some(name.clone()),
                owner: Some(restored.owner),
            },
            info: info.clone(),
        })),
        // The replaced database is dropped while the caller makes the key and the files.
        Upkeep::Inline => Cleanup::Dropping(tokio::spawn(async move {
            admin.drop_aside(&restored.aside).await?;
            // And those of restores whose drop never happened (their process killed).
            admin.sweep_replaced().await.map(drop)
        })),
    };
    let written = async {
        let mut conn = db::connect(info).await?;
        stamp.write(&mut conn, env).await
    }
    .await;
    let restored = Restored {
        name,
        from_spare: restored.from_spare,
        cleanup,
    };
    if let Err(e) = written {
        // The target is replaced all the same: the replaced database must still go.
        if let Some(note) = restored.finish().await {
            tracing::debug!(note, "after a failed restore");
        }
        return Err(e);
    }
    Ok(Restore::Done(restored))
}

/// Asks on the terminal whether to end the other sessions; without a terminal, refuses.
fn confirm(target: &str, sessions: &[(i32, String)]) -> Result<bool> {
    use std::io::{BufRead, IsTerminal, Write};
    let refused = store::busy_error(target, sessions);
    if !std::io::stdin().is_terminal() {
        return Err(refused);
    }
    eprint!(
        "{} other session(s) are connected to {target}; restoring from the snapshot disconnects them. Continue? [y/N] ",
        sessions.len()
    );
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|source| SeedError::Io {
            doing: "cannot read the answer from",
            path: "standard input".into(),
            source,
        })?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(true)
    } else {
        Err(refused)
    }
}

/// Gives a database just restored from a snapshot what the snapshot cannot hold: a test agent
/// API key somebody knows (shown, and written with `--write-env`, as a fresh run shows it) and
/// the main tenant's sample files in `--artifacts-dir`. Every row but the key's is the
/// snapshot's already, so no stage reruns. Returns the dataset fingerprint the ledger records.
pub(crate) async fn renew(info: &ConnInfo, ctx: &Ctx) -> Result<String> {
    let mut conn = db::connect(info).await?;
    let (row, key) = replace_key(&mut conn, ctx).await?;
    // Shown right after the commit, before anything else can fail: a key that is committed
    // but not shown is lost (the ledger row says so until it is shown).
    let delivered = if ctx.deliver_keys {
        runner::secret::deliver(ctx, &mut conn, row, &key).await
    } else {
        Ok(())
    };
    let files = crate::stages::s03_data_imports::main_tenant_files(ctx);
    let written = crate::stages::s03_data_imports::write_files(ctx, &files);
    // The run ends with one error; a key that could not be shown must not go unmentioned.
    if let (Err(k), Err(_)) = (&delivered, &written) {
        eprintln!("error: {k}");
    }
    written?;
    delivered?;
    runner::dataset_fingerprint(&mut conn, STAGES).await
}

/// Replaces the snapshot's unusable key in one transaction and returns the ledger row that
/// now stands for the new key with its plaintext. That row (stage 01's last successful run)
/// stays marked undelivered until the key is shown, and gets the tables' new state, so the
/// next run finds stage 01 unchanged from the state alone instead of fingerprinting its
/// tables.
async fn replace_key(
    conn: &mut diesel_async::AsyncPgConnection,
    ctx: &Ctx,
) -> Result<(i64, String)> {
    use crate::stages::s01_core_entities::{self, CoreEntities};
    use diesel::sql_types::BigInt;
    use diesel_async::{AsyncConnection, RunQueryDsl};
    let id = stage_id::CORE_ENTITIES;
    conn.transaction::<_, SeedError, _>(async |c| {
        // Stage 01's own lock: a seed of stage 01 started meanwhile waits for this key.
        diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
            .bind::<BigInt, _>(runner::stage_lock_key(id))
            .execute(c)
            .await
            .map_err(SeedError::db(format!("waiting for the lock of stage {id}")))?;
        let last = ledger::last_success(c, id).await?.ok_or_else(|| {
            SeedError::Internal(format!(
                "the restored snapshot has no successful run of stage {id} in its seed ledger"
            ))
        })?;
        let key = s01_core_entities::rotate_test_key(ctx, c).await?;
        ledger::forget_undelivered_keys(c).await?;
        let state = crate::fingerprint::table_state(c, CoreEntities.tables()).await?;
        ledger::key_replaced(c, last.id, &state).await?;
        Ok((last.id, key))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kit_defaults_are_seeds_defaults() {
        use clap::Parser;
        let cli = crate::cli::Cli::try_parse_from(["seed"]).map_err(|e| e.to_string());
        let cli = cli.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cli.common.rng_seed, DEFAULT_RNG_SEED);
        assert_eq!(cli.common.as_of, default_as_of());
        assert_eq!(cli.common.scale, Inputs::seeded(1).scale);
    }

    /// Two processes' worth of callers (separate runtimes and connections) asking for the
    /// same snapshot at once: one builds it, both get its name, no half-made copy is left.
    #[test]
    fn concurrent_ensure_builds_the_snapshot_once() {
        let url = groundwork_testdb::server_url();
        let rng_seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(7);
        let inputs = Inputs {
            rng_seed,
            ..Inputs::migrated()
        };
        let callers: Vec<_> = (0..2)
            .map(|_| {
                let inputs = inputs.clone();
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_multi_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| e.to_string())?;
                    rt.block_on(ensure_built(url, &inputs))
                        .map_err(|e| e.to_string())
                })
            })
            .collect();
        let results: Vec<(String, bool)> = callers
            .into_iter()
            .map(|h| match h.join() {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => panic!("ensure failed: {e}"),
                Err(_) => panic!("an ensure thread panicked"),
            })
            .collect();
        let key = inputs.key().map_err(|e| e.to_string());
        let name = key.as_ref().map(|k| k.database_name()).unwrap_or_default();
        let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("runtime: {e}"));
        let (exists, leftovers) = rt
            .block_on(async {
                let info = db::parse(url, None).map_err(|e| e.to_string())?;
                let admin = Admin::connect(&info).await.map_err(|e| e.to_string())?;
                let exists = admin.exists(&name).await.map_err(|e| e.to_string())?;
                let ours = format!("{}{}", store::BUILDING_PREFIX, &name[NAME_PREFIX.len()..]);
                let leftovers: Vec<String> = admin
                    .leftovers()
                    .await
                    .map_err(|e| e.to_string())?
                    .into_iter()
                    .filter(|n| n.starts_with(&ours))
                    .collect();
                // Cleanup before asserting, so a failure leaves nothing behind.
                admin
                    .drop_snapshot(&name)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok::<_, String>((exists, leftovers))
            })
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(results.iter().all(|(n, _)| *n == name), "{results:?}");
        assert_eq!(
            results.iter().filter(|(_, built)| *built).count(),
            1,
            "{results:?}"
        );
        assert!(exists);
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn migrated_and_seeded_keys_differ() {
        let m = Inputs::migrated().key().map_err(|e| e.to_string());
        let s = Inputs::seeded(1).key().map_err(|e| e.to_string());
        assert_ne!(m, s);
        assert!(m.map(|k| k.inputs().stages.is_empty()).unwrap_or(false));
    }
}
