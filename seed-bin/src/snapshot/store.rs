//! Snapshot databases on the server: find, create (under a temporary name, then renamed, under
//! an advisory lock so concurrent seeders make a snapshot once), restore into a target,
//! list and drop. Every statement runs on a connection to the maintenance database, because
//! `CREATE DATABASE … TEMPLATE` needs the source free of sessions, ours included.

use super::key::{NAME_PREFIX, SPARE_PREFIX, SnapshotKey, snapshot_of_spare, spare_name};
use crate::error::{Result, SeedError};
use chrono::{DateTime, Utc};
use groundwork_migrate::ConnInfo;
use groundwork_migrate::policy::{self, quote_ident};
use serde::{Deserialize, Serialize};
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

/// The database every admin connection uses: present on every cluster `initdb` made.
const MAINTENANCE_DB: &str = "postgres";

/// Prefix of a snapshot being built or copied; renamed to its final name once complete, so a
/// name with [`NAME_PREFIX`] always holds a whole snapshot. A killed run leaves one behind,
/// which `snapshot drop --all` removes.
pub(super) const BUILDING_PREFIX: &str = "groundwork_snapnew_";

/// Prefix of the database a restore replaced (the old target, renamed aside and then
/// dropped; the pid of the restoring process follows). The swap renames the target aside and
/// the copy to the target in one transaction, so a database of this name is never one
/// anybody may need back: whoever finds one may drop it ([`Admin::sweep_replaced`]).
pub(super) const ASIDE_PREFIX: &str = "groundwork_snapnew_old_";

/// Prefix of a spare being made (the snapshot's hex digits follow): one name per snapshot,
/// used only under the spare's build lock ([`spare_lock_key`]), so a copy left under it by a
/// builder that died is dropped by the next builder.
const SPARE_BUILD_PREFIX: &str = "groundwork_snapnew_spare_";

/// How long the detached `seed snapshot maintain` waits for any lock before it gives up
/// ([`Admin::limit_lock_waits`]).
const UPKEEP_LOCK_TIMEOUT: &str = "5min";

/// How long [`Admin::sessions_on`] waits for sessions that are ending: 25 × 20 ms.
const SESSION_SETTLE_POLLS: u32 = 25;
const SESSION_SETTLE_STEP: std::time::Duration = std::time::Duration::from_millis(20);

/// Snapshots at least this large are restored with `STRATEGY FILE_COPY`, smaller ones with
/// `WAL_LOG` (PostgreSQL 15's default). WAL_LOG copies every page through the buffer pool and
/// the WAL, so its cost grows with the size, and the `DROP DATABASE` of the replaced database
/// (whose checkpoint the reset waits for) then also flushes the copy. FILE_COPY copies the
/// files and syncs them itself, but forces two checkpoints of the whole cluster, a cost that
/// does not shrink with the snapshot, and grows with what other databases left dirty. Whole
/// `seed reset` runs on the 2-core machine, quiet (medians, WAL_LOG vs FILE_COPY): 10.7 MB
/// (scale 1) 0.21 vs 0.20 s; 26 MB 0.25 vs 0.21 s; 59 MB 0.39 vs 0.24 s; 108 MB 0.64 vs
/// 0.30 s; 337 MB (scale 1000) 1.73 vs 0.72 s. With another engineer's builds and tests on
/// the same server, copying and dropping the 10.7 MB snapshot took 0.49 s with WAL_LOG and
/// 0.59 s with FILE_COPY, and the two were even at 26 and 59 MB.
const FILE_COPY_FROM_BYTES: i64 = 16 * 1024 * 1024;

/// Name of the admin sessions in `pg_stat_activity`.
const APPLICATION_NAME: &str = "groundwork-seed-snapshot";

/// The key the advisory lock for one snapshot name is taken on (on the maintenance
/// database, which every seeder of this server shares).
fn lock_key(name: &str) -> i64 {
    let d = <sha2::Sha256 as sha2::Digest>::digest(format!("groundwork-snapshot/{name}"));
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    i64::from_le_bytes(b)
}

/// The advisory lock a spare's builder holds while it makes the spare of `snapshot`: one
/// builder at a time per snapshot, and a restore that finds no spare waits for a builder at
/// work rather than starting a copy of its own. Public for tests that hold a builder back.
pub fn spare_lock_key(snapshot: &str) -> i64 {
    lock_key(&format!("spare/{snapshot}"))
}

/// The name a spare is made under before it is renamed to `spare` ([`SPARE_BUILD_PREFIX`]).
fn spare_build_name(spare: &str) -> String {
    format!(
        "{SPARE_BUILD_PREFIX}{}",
        spare.strip_prefix(SPARE_PREFIX).unwrap_or(spare)
    )
}

/// What `COMMENT ON DATABASE` holds for a snapshot: the full key, its inputs, and when it was
/// made and last restored (the comment is the one place PostgreSQL keeps for free text on a
/// database that needs no connection to it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub key: String,
    pub inputs: super::key::KeyInputs,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A snapshot on the server, for `snapshot list`.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub name: String,
    pub size_bytes: i64,
    /// `None` when the comment is missing or not ours (shown as unknown).
    pub meta: Option<Meta>,
}

/// A connection to the server's maintenance database.
pub struct Admin {
    client: Client,
    target: ConnInfo,
}

fn server_error(doing: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> SeedError {
    let doing = doing.into();
    move |e| SeedError::Server {
        message: format!("{doing}: {}", describe(&e)),
        state: e.code().cloned(),
    }
}

fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

impl Admin {
    /// Connects to the maintenance database of `info`'s server (`info` names the target).
    pub async fn connect(info: &ConnInfo) -> Result<Admin> {
        let admin = info.with_database(MAINTENANCE_DB);
        let (client, connection) = policy::connect_client(&admin, APPLICATION_NAME).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "snapshot admin connection ended");
            }
        });
        Ok(Admin {
            client,
            target: info.clone(),
        })
    }

    /// Whether a database of that name exists.
    pub async fn exists(&self, name: &str) -> Result<bool> {
        let row = self
            .client
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
            .await
            .map_err(server_error(format!("looking for database {name}")))?;
        Ok(row.is_some())
    }

    /// Sessions other than ours connected to `db`: (pid, application_name).
    pub async fn sessions_on(&self, db: &str) -> Result<Vec<(i32, String)>> {
        // A connection its client just closed (this run's own, or a run that just ended)
        // stays listed until its backend has exited, a few milliseconds later: give leaving
        // sessions a moment before counting them as somebody else's.
        let mut sessions = self.sessions_now(db).await?;
        for _ in 0..SESSION_SETTLE_POLLS {
            if sessions.is_empty() {
                break;
            }
            tokio::time::sleep(SESSION_SETTLE_STEP).await;
            sessions = self.sessions_now(db).await?;
        }
        Ok(sessions)
    }

    async fn sessions_now(&self, db: &str) -> Result<Vec<(i32, String)>> {
        let rows = self
            .client
            .query(
                "SELECT pid, coalesce(application_name, '') FROM pg_stat_activity \
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
                &[&db],
            )
            .await
            .map_err(server_error(format!("listing the sessions on {db}")))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Takes the advisory lock of snapshot `name` for this session (released by
    /// [`Self::unlock`] or when the connection closes).
    async fn lock(&self, name: &str) -> Result<()> {
        self.advisory(
            "pg_advisory_lock",
            lock_key(name),
            format!("locking snapshot {name}"),
        )
        .await
    }

    async fn unlock(&self, name: &str) {
        self.release("pg_advisory_unlock", lock_key(name)).await
    }

    /// Waits for `function` (one of the advisory-lock functions) on `key`; `doing` names
    /// the wait in an error.
    async fn advisory(&self, function: &str, key: i64, doing: String) -> Result<()> {
        self.client
            .execute(&format!("SELECT {function}($1)"), &[&key])
            .await
            .map_err(server_error(doing))?;
        Ok(())
    }

    /// Releases with `function`; a failure is harmless, the session's end releases it.
    async fn release(&self, function: &str, key: i64) {
        if let Err(e) = self
            .client
            .execute(&format!("SELECT {function}($1)"), &[&key])
            .await
        {
            tracing::debug!(error = %e, "releasing the snapshot lock; the session end releases it");
        }
    }

    async fn batch(&self, sql: &str, doing: &str) -> Result<()> {
        self.client
            .batch_execute(sql)
            .await
            .map_err(server_error(doing.to_string()))
    }

    /// Copies database `source` into the snapshot of `key`, unless it exists. `prepare`
    /// runs on the copy (under its temporary name) before it becomes the snapshot. Returns
    /// whether this call made it. Concurrent callers serialise on the snapshot's lock, so
    /// only one of them copies.
    pub async fn create_from<F, Fut>(
        &self,
        source: &str,
        key: &SnapshotKey,
        prepare: F,
    ) -> Result<bool>
    where
        F: FnOnce(ConnInfo) -> Fut,
        Fut: std::future::Future<Output = Result<()>>,
    {
        let name = key.database_name();
        self.lock(&name).await?;
        let made = self.create_locked(Some(source), key, prepare).await;
        self.unlock(&name).await;
        made
    }

    /// Builds the snapshot of `key` with `build` (given the connection settings of an empty
    /// database under a temporary name), unless it exists. Returns whether this call built it.
    pub async fn build<F, Fut>(&self, key: &SnapshotKey, build: F) -> Result<bool>
    where
        F: FnOnce(ConnInfo) -> Fut,
        Fut: std::future::Future<Output = Result<()>>,
    {
        let name = key.database_name();
        self.lock(&name).await?;
        let made = self.create_locked(None, key, build).await;
        self.unlock(&name).await;
        made
    }

    async fn create_locked<F, Fut>(
        &self,
        source: Option<&str>,
        key: &SnapshotKey,
        prepare: F,
    ) -> Result<bool>
    where
        F: FnOnce(ConnInfo) -> Fut,
        Fut: std::future::Future<Output = Result<()>>,
    {
        let name = key.database_name();
        if self.exists(&name).await? {
            return Ok(false);
        }
        let temp = format!(
            "{BUILDING_PREFIX}{}_{}",
            &key.hex()[..24],
            std::process::id()
        );
        let qt = quote_ident(&temp);
        // A run killed while holding this name (same pid reused) left it; it is ours to redo.
        self.batch(
            &format!("DROP DATABASE IF EXISTS {qt}"),
            "dropping a leftover snapshot copy",
        )
        .await?;
        let create = match source {
            Some(s) => format!("CREATE DATABASE {qt} TEMPLATE {}", quote_ident(s)),
            None => format!("CREATE DATABASE {qt}"),
        };
        self.batch(
            &create,
            &format!(
                "copying database {} into a snapshot",
                source.unwrap_or("(new)")
            ),
        )
        .await?;
        let filled = async {
            prepare(self.target.with_database(&temp)).await?;
            let meta = Meta {
                key: key.hex().to_string(),
                inputs: key.inputs().clone(),
                created_at: Utc::now(),
                last_used_at: None,
            };
            self.set_meta(&temp, &meta).await?;
            // A template nobody can connect to: no session can ever block a restore from it.
            self.batch(
                &format!(
                    "ALTER DATABASE {qt} RENAME TO {}; ALTER DATABASE {} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false",
                    quote_ident(&name),
                    quote_ident(&name)
                ),
                "turning the copy into a snapshot",
            )
            .await
        }
        .await;
        if let Err(e) = filled {
            let _ = self
                .client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {qt} WITH (FORCE)"))
                .await;
            return Err(e);
        }
        Ok(true)
    }

    async fn set_meta(&self, db: &str, meta: &Meta) -> Result<()> {
        let json = serde_json::to_string(meta)
            .map_err(|e| SeedError::Internal(format!("cannot serialise snapshot metadata: {e}")))?;
        // COMMENT takes no parameters; the JSON is quoted as a literal.
        let sql = format!(
            "COMMENT ON DATABASE {} IS '{}'",
            quote_ident(db),
            json.replace('\'', "''")
        );
        self.batch(&sql, &format!("recording the key of snapshot {db}"))
            .await
    }

    /// Replaces database `target` (owner kept) with a copy of snapshot `snapshot`: its spare
    /// when there is one for the target's owner, else a copy made now. Other sessions on
    /// `target` are ended first when `terminate` is set; otherwise their presence fails with
    /// [`SeedError::Refused`] before anything changed. Returns `None` when the snapshot was
    /// dropped before this restore got its lock.
    pub async fn restore(
        &self,
        snapshot: &str,
        target: &str,
        terminate: bool,
    ) -> Result<Option<Restored>> {
        // Shared: restores (and spare builders) run side by side, while a drop (exclusive)
        // waits for them, and a restore that waited for a drop finds the snapshot gone and
        // says so.
        self.lock_shared(snapshot).await?;
        let result = if self.exists(snapshot).await? {
            self.restore_locked(snapshot, target, terminate)
                .await
                .map(Some)
        } else {
            Ok(None)
        };
        self.unlock_shared(snapshot).await;
        result
    }

    async fn lock_shared(&self, snapshot: &str) -> Result<()> {
        self.advisory(
            "pg_advisory_lock_shared",
            lock_key(snapshot),
            format!("locking snapshot {snapshot}"),
        )
        .await
    }

    async fn unlock_shared(&self, snapshot: &str) {
        self.release("pg_advisory_unlock_shared", lock_key(snapshot))
            .await
    }

    async fn restore_locked(
        &self,
        snapshot: &str,
        target: &str,
        terminate: bool,
    ) -> Result<Restored> {
        let spare = spare_name(snapshot)
            .ok_or_else(|| SeedError::Internal(format!("`{snapshot}` is not a snapshot's name")))?;
        let row = self
            .client
            .query_one(
                "SELECT pg_get_userbyid(t.datdba), \
                 (SELECT pg_get_userbyid(s.datdba) FROM pg_database s WHERE s.datname = $2) \
                 FROM pg_database t WHERE t.datname = $1",
                &[&target, &spare],
            )
            .await
            .map_err(server_error(format!("reading the owner of {target}")))?;
        let (owner, spare_owner): (String, Option<String>) = (row.get(0), row.get(1));
        let temp = format!("{BUILDING_PREFIX}restore_{}", std::process::id());
        let qt = quote_ident(&temp);
        self.batch(
            &format!("DROP DATABASE IF EXISTS {qt}"),
            "dropping a leftover restore copy",
        )
        .await?;
        let from_spare = self
            .claim_spare(snapshot, &spare, spare_owner, &owner, &temp)
            .await?;
        if !from_spare {
            let strategy = self.copy_strategy(snapshot).await;
            // Copy first, under another name: the target is replaced only once its
            // replacement is whole, so a failed copy leaves it untouched.
            self.batch(
                &format!(
                    "CREATE DATABASE {qt} TEMPLATE {} OWNER {}{strategy}",
                    quote_ident(snapshot),
                    quote_ident(&owner)
                ),
                &format!("copying snapshot {snapshot}"),
            )
            .await?;
        }
        let others = self.sessions_on(target).await?;
        if !others.is_empty() && !terminate {
            let _ = self
                .client
                .batch_execute(&format!("DROP DATABASE {qt}"))
                .await;
            return Err(busy_error(target, &others));
        }
        // The old database is renamed aside, not dropped here: DROP DATABASE waits for a
        // checkpoint, which the caller keeps off its path ([`Self::drop_aside`]).
        let aside = format!("{ASIDE_PREFIX}{}", std::process::id());
        let qa = quote_ident(&aside);
        let swapped = async {
            self.batch(
                &format!("DROP DATABASE IF EXISTS {qa}"),
                "dropping a database an earlier reset left aside",
            )
            .await?;
            if terminate {
                self.client
                    .execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE datname = $1 AND pid <> pg_backend_pid()",
                        &[&target],
                    )
                    .await
                    .map_err(server_error(format!(
                        "disconnecting the sessions on {target}"
                    )))?;
            }
            // Both renames in one transaction: the target is replaced whole or not at all,
            // with no moment in which it is missing, and the database under the aside name is
            // never one a failed restore must rename back (so anyone may drop it). PostgreSQL
            // waits (up to 5 s) for ended sessions to leave before renaming.
            self.batch(
                &format!(
                    "ALTER DATABASE {} RENAME TO {qa}; ALTER DATABASE {qt} RENAME TO {}",
                    quote_ident(target),
                    quote_ident(target)
                ),
                &format!("replacing database {target} with the snapshot copy"),
            )
            .await
        }
        .await;
        if let Err(e) = swapped {
            let _ = self
                .client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {qt}"))
                .await;
            return Err(match e {
                SeedError::Server { state: Some(s), .. } if s == SqlState::OBJECT_IN_USE => {
                    busy_error(target, &self.sessions_on(target).await.unwrap_or_default())
                }
                other => other,
            });
        }
        self.touch(snapshot).await;
        Ok(Restored {
            aside,
            owner,
            from_spare,
        })
    }

    /// Takes the spare of `snapshot` for this restore when it fits (`owner`, the target's
    /// owner, owns it): renamed to `temp`, it stands for the copy the restore would otherwise
    /// make now. `spare_owner` is the spare's owner as read a moment ago (`None`: no spare).
    /// Returns whether it took it.
    async fn claim_spare(
        &self,
        snapshot: &str,
        spare: &str,
        spare_owner: Option<String>,
        owner: &str,
        temp: &str,
    ) -> Result<bool> {
        let mut spare_owner = spare_owner;
        if spare_owner.is_none() {
            // A spare being made right now (by the child of the previous restore, or after a
            // snapshot was just kept) is ready sooner than a copy started now, and two copies
            // at once would slow each other down: wait for its builder, then look again.
            let k = spare_lock_key(snapshot);
            self.batch(
                &format!("SELECT pg_advisory_lock({k}); SELECT pg_advisory_unlock({k})"),
                "waiting for the spare copy being made",
            )
            .await?;
            spare_owner = self.owner_of(spare).await?;
        }
        if spare_owner.as_deref() != Some(owner) {
            return Ok(false);
        }
        // The spare takes no connections while it waits; the one rename is the claim, so two
        // restores can never both take it.
        let qt = quote_ident(temp);
        match self
            .batch(
                &format!(
                    "ALTER DATABASE {} RENAME TO {qt}; ALTER DATABASE {qt} WITH ALLOW_CONNECTIONS true",
                    quote_ident(spare)
                ),
                &format!("taking the spare copy {spare}"),
            )
            .await
        {
            Ok(()) => Ok(true),
            // 3D000: another restore took it first. Anything else: copying the template, as
            // without a spare, fails for a real problem with its own message.
            Err(e) => {
                tracing::debug!(error = %e, "the spare copy was not taken; copying the snapshot");
                Ok(false)
            }
        }
    }

    /// Bounds every wait of this session for a lock (for the detached child: a drop or a
    /// creation of the snapshot waits for it, so it must not wait forever itself).
    pub async fn limit_lock_waits(&self) -> Result<()> {
        self.batch(
            &format!("SET lock_timeout = '{UPKEEP_LOCK_TIMEOUT}'"),
            "setting the lock timeout",
        )
        .await
    }

    /// The owner of database `db`, `None` when there is no such database.
    pub async fn owner_of(&self, db: &str) -> Result<Option<String>> {
        let row = self
            .client
            .query_opt(
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1",
                &[&db],
            )
            .await
            .map_err(server_error(format!("reading the owner of {db}")))?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Makes the spare of `snapshot` for databases owned by `owner` (a copy of it under
    /// [`SPARE_PREFIX`], renamed into place once whole), unless one is there. Holds the
    /// snapshot's shared lock, as a restore does, so a drop of the snapshot waits for it and
    /// drops the spare too, and it checks under that lock that the snapshot still exists: a
    /// builder that comes late never makes the spare of a dropped snapshot. A spare of
    /// another owner is replaced: the spare fits the latest restore.
    pub async fn make_spare(&self, snapshot: &str, owner: &str) -> Result<Spare> {
        let spare = spare_name(snapshot).ok_or_else(|| {
            SeedError::Usage(format!(
                "`{snapshot}` is not a snapshot: their names start with {NAME_PREFIX}"
            ))
        })?;
        self.lock_shared(snapshot).await?;
        let made = async {
            if !self.exists(snapshot).await? {
                return Ok(Spare::SnapshotGone);
            }
            let k = spare_lock_key(snapshot);
            self.advisory(
                "pg_advisory_lock",
                k,
                format!("waiting for the spare copy of {snapshot} being made"),
            )
            .await?;
            let made = self.build_spare_locked(snapshot, &spare, owner).await;
            self.release("pg_advisory_unlock", k).await;
            made
        }
        .await;
        self.unlock_shared(snapshot).await;
        made
    }

    async fn build_spare_locked(&self, snapshot: &str, spare: &str, owner: &str) -> Result<Spare> {
        let present = self.owner_of(spare).await?;
        if present.as_deref() == Some(owner) {
            return Ok(Spare::AlreadyThere);
        }
        let temp = spare_build_name(spare);
        let qt = quote_ident(&temp);
        // Only a builder that died holding the build lock can have left a copy under it.
        self.batch(
            &format!("DROP DATABASE IF EXISTS {qt} WITH (FORCE)"),
            "dropping a half-made spare copy",
        )
        .await?;
        let strategy = self.copy_strategy(snapshot).await;
        self.batch(
            &format!(
                "CREATE DATABASE {qt} TEMPLATE {} OWNER {}{strategy}",
                quote_ident(snapshot),
                quote_ident(owner)
            ),
            &format!("copying snapshot {snapshot} into a spare"),
        )
        .await?;
        let placed = async {
            if present.is_some() {
                self.batch(
                    &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(spare)),
                    &format!("dropping the spare {spare} of another owner"),
                )
                .await?;
            }
            // Nobody may connect to a spare: a session could change what the next restore
            // hands out as the snapshot's content, and would block the rename that claims it.
            self.batch(
                &format!(
                    "ALTER DATABASE {qt} WITH ALLOW_CONNECTIONS false; ALTER DATABASE {qt} RENAME TO {}",
                    quote_ident(spare)
                ),
                &format!("renaming the spare copy to {spare}"),
            )
            .await
        }
        .await;
        match placed {
            Ok(()) => Ok(Spare::Made),
            Err(e) => {
                let _ = self
                    .client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {qt} WITH (FORCE)"))
                    .await;
                match e {
                    // Someone else placed a spare meanwhile: theirs serves as well.
                    SeedError::Server { state: Some(s), .. }
                        if s == SqlState::DUPLICATE_DATABASE =>
                    {
                        Ok(Spare::AlreadyThere)
                    }
                    other => Err(other),
                }
            }
        }
    }

    /// The `STRATEGY` clause for copying `snapshot` (see [`FILE_COPY_FROM_BYTES`]); empty
    /// before PostgreSQL 15, which has no such clause, or when the size cannot be read (the
    /// server's default then copies it, only maybe slower).
    async fn copy_strategy(&self, snapshot: &str) -> &'static str {
        let row = self
            .client
            .query_one(
                "SELECT current_setting('server_version_num')::int, pg_database_size($1::text)",
                &[&snapshot],
            )
            .await;
        match row {
            Ok(r) if r.get::<_, i32>(0) < 150000 => "",
            Ok(r) if r.get::<_, i64>(1) >= FILE_COPY_FROM_BYTES => " STRATEGY FILE_COPY",
            Ok(_) => " STRATEGY WAL_LOG",
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the snapshot's size; copying with the server's default strategy");
                ""
            }
        }
    }

    /// Drops the old database a restore moved aside.
    pub async fn drop_aside(&self, aside: &str) -> Result<()> {
        self.batch(
            &format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                quote_ident(aside)
            ),
            &format!("dropping the replaced database (now {aside})"),
        )
        .await
    }

    /// Drops every database a restore moved aside ([`ASIDE_PREFIX`]) that is still there:
    /// those of restores whose drop never happened (their process or its child was killed).
    /// Any of them may go (see [`ASIDE_PREFIX`]); one that another restore's child drops at
    /// the same moment is simply gone (`IF EXISTS`). Returns how many it dropped.
    pub async fn sweep_replaced(&self) -> Result<usize> {
        let rows = self
            .client
            .query(
                "SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY datname",
                &[&ASIDE_PREFIX],
            )
            .await
            .map_err(server_error("listing the databases restores replaced"))?;
        for row in &rows {
            self.drop_aside(&row.get::<_, String>(0)).await?;
        }
        Ok(rows.len())
    }

    /// Records that `snapshot` was used now (best effort: a failure only ages it for prune).
    async fn touch(&self, snapshot: &str) {
        if let Ok(Some(mut meta)) = self.meta(snapshot).await {
            meta.last_used_at = Some(Utc::now());
            if let Err(e) = self.set_meta(snapshot, &meta).await {
                tracing::debug!(error = %e, "could not record the snapshot's last use");
            }
        }
    }

    async fn meta(&self, db: &str) -> Result<Option<Meta>> {
        let row = self
            .client
            .query_opt(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
                &[&db],
            )
            .await
            .map_err(server_error(format!("reading the key of snapshot {db}")))?;
        let text: Option<String> = row.and_then(|r| r.get(0));
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// Every snapshot on the server, most recently used (or made) first.
    pub async fn list(&self) -> Result<Vec<Listed>> {
        let rows = self
            .client
            .query(
                "SELECT datname, pg_database_size(oid), shobj_description(oid, 'pg_database') \
                 FROM pg_database WHERE starts_with(datname, $1) ORDER BY datname",
                &[&NAME_PREFIX],
            )
            .await
            .map_err(server_error("listing the snapshots"))?;
        let mut out: Vec<Listed> = rows
            .iter()
            .map(|r| Listed {
                name: r.get(0),
                size_bytes: r.get(1),
                meta: r
                    .get::<_, Option<String>>(2)
                    .and_then(|t| serde_json::from_str(&t).ok()),
            })
            .collect();
        // Most recently used (or made) first: `prune --keep N` keeps the head of this list.
        out.sort_by_key(|l| {
            std::cmp::Reverse(
                l.meta
                    .as_ref()
                    .map(|m| m.last_used_at.unwrap_or(m.created_at).max(m.created_at)),
            )
        });
        Ok(out)
    }

    /// Names of half-made snapshot copies left by killed runs.
    pub async fn leftovers(&self) -> Result<Vec<String>> {
        let rows = self
            .client
            .query(
                "SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY datname",
                &[&BUILDING_PREFIX],
            )
            .await
            .map_err(server_error("listing leftover snapshot copies"))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Names of the spares whose snapshot no longer exists.
    pub async fn orphan_spares(&self) -> Result<Vec<String>> {
        let rows = self
            .client
            .query(
                "SELECT s.datname FROM pg_database s WHERE starts_with(s.datname, $1) \
                 AND NOT EXISTS (SELECT 1 FROM pg_database p \
                 WHERE p.datname = $2 || substr(s.datname, length($1) + 1)) ORDER BY 1",
                &[&SPARE_PREFIX, &NAME_PREFIX],
            )
            .await
            .map_err(server_error("listing the spare copies"))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Drops snapshot (or leftover copy, or spare) `name`, under the snapshot's lock so a
    /// restore, a creation or a spare's builder in progress finishes first. A snapshot's
    /// spare (and a half-made one) goes with it.
    pub async fn drop_snapshot(&self, name: &str) -> Result<()> {
        if let Some(snapshot) = snapshot_of_spare(name) {
            self.lock(&snapshot).await?;
            let result = self.drop_spares_of(&snapshot).await;
            self.unlock(&snapshot).await;
            return result;
        }
        self.lock(name).await?;
        let q = quote_ident(name);
        let doing = format!("dropping snapshot {name}");
        // DROP DATABASE refuses to run in a transaction, so each statement goes alone.
        let result = async {
            self.batch(
                &format!("ALTER DATABASE {q} WITH IS_TEMPLATE false"),
                &doing,
            )
            .await?;
            self.batch(&format!("DROP DATABASE IF EXISTS {q}"), &doing)
                .await?;
            if name.starts_with(NAME_PREFIX) {
                self.drop_spares_of(name).await?;
            }
            Ok(())
        }
        .await;
        self.unlock(name).await;
        result
    }

    /// Drops the spare of `snapshot` and any half-made one (the caller holds the snapshot's
    /// lock, so no builder is at work).
    async fn drop_spares_of(&self, snapshot: &str) -> Result<()> {
        let Some(spare) = spare_name(snapshot) else {
            return Ok(());
        };
        let building = spare_build_name(&spare);
        for db in [spare, building] {
            self.batch(
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(&db)),
                &format!("dropping the spare copy {db}"),
            )
            .await?;
        }
        Ok(())
    }
}

/// What [`Admin::restore`] did.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The name the old target now has: a database nobody needs, to drop
    /// ([`Admin::drop_aside`]).
    pub aside: String,
    /// The target's owner, which the restored database has too (a spare for it must).
    pub owner: String,
    /// Whether the restored database is the snapshot's spare, made ahead.
    pub from_spare: bool,
}

/// What [`Admin::make_spare`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spare {
    Made,
    /// A spare for that owner was there already.
    AlreadyThere,
    /// The snapshot was dropped before the builder got its lock.
    SnapshotGone,
}

pub(super) fn busy_error(target: &str, others: &[(i32, String)]) -> SeedError {
    let who: Vec<String> = others
        .iter()
        .map(|(pid, app)| {
            if app.is_empty() {
                format!("pid {pid}")
            } else {
                format!("pid {pid} ({app})")
            }
        })
        .collect();
    SeedError::Refused(format!(
        "restoring {target} from a snapshot drops it, and {} other session(s) are connected to it: {}. \
         Pass --yes to disconnect them, close them first, or use `seed reset --in-place` to empty the tables instead. Nothing was changed.",
        others.len(),
        who.join(", ")
    ))
}

/// Whether `e` says the server refused to create databases for lack of privilege (a role
/// without CREATEDB): snapshots are then skipped, not an error.
pub fn is_privilege_error(e: &SeedError) -> bool {
    matches!(e, SeedError::Server { state: Some(s), .. } if *s == SqlState::INSUFFICIENT_PRIVILEGE)
}

/// Whether `e` says another session was connected to the database being copied.
pub fn is_in_use(e: &SeedError) -> bool {
    matches!(e, SeedError::Server { state: Some(s), .. } if *s == SqlState::OBJECT_IN_USE)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `seed snapshot drop --all` finds every half-made database by [`BUILDING_PREFIX`].
    #[test]
    fn every_temporary_name_is_a_leftover_name_and_no_snapshot_name() {
        for p in [ASIDE_PREFIX, SPARE_BUILD_PREFIX] {
            assert!(p.starts_with(BUILDING_PREFIX), "{p}");
            assert!(!p.starts_with(NAME_PREFIX), "{p}");
        }
        let longest = format!("{SPARE_BUILD_PREFIX}{}", "f".repeat(24));
        assert!(longest.len() <= 63, "{longest}");
        assert_ne!(
            spare_lock_key("groundwork_snap_x"),
            lock_key("groundwork_snap_x")
        );
    }
}
