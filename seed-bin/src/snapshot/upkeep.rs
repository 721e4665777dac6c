//! What a restore leaves to do, kept off its path: dropping the database it replaced (DROP
//! DATABASE waits for a checkpoint) and making the snapshot's next spare, the copy the next
//! restore renames into place instead of copying the template (CREATE DATABASE costs a
//! fifth of a second or more on a slow disk, whatever the size).
//!
//! The `seed` executable hands both to a detached child of itself, `seed snapshot maintain`
//! (hidden), as git hands its auto-maintenance to a detached `git maintenance`: the run does
//! not wait for it. `SEED_SNAPSHOT_SPARE=off`, and the library's [`crate::run`], keep the
//! earlier behaviour: the run drops the replaced database itself before it ends, and no spare
//! is made.

use super::key::NAME_PREFIX;
use super::store::{ASIDE_PREFIX, Admin};
use crate::cli::Maintain;
use crate::error::{Result, SeedError};
use groundwork_migrate::ConnInfo;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The switch: `on` (the default) or `off`.
pub const SPARE_VAR: &str = "SEED_SNAPSHOT_SPARE";

/// Who does the work a restore leaves.
#[derive(Clone)]
pub(crate) enum Upkeep {
    /// A detached child of this executable, started when the run's own work is done.
    Detached(Child),
    /// The run itself: it drops the replaced database before it ends; no spare is made.
    Inline,
}

impl Upkeep {
    /// `Detached` when the run is the `seed` executable (`executable`) and [`SPARE_VAR`] is
    /// not `off`. `database_url` and `connect_timeout` are the run's settings as given, which
    /// the child gets through its environment.
    pub(crate) fn resolve(
        executable: bool,
        database_url: Option<&str>,
        connect_timeout: Option<Duration>,
    ) -> Result<Upkeep> {
        let on = match std::env::var(SPARE_VAR) {
            Err(_) => true,
            Ok(v) => match v.trim() {
                "" | "on" => true,
                "off" => false,
                other => {
                    return Err(SeedError::Usage(format!(
                        "{SPARE_VAR}=`{other}` is neither `on` nor `off`; set it to `off` to make no spare copies of snapshots in the background, or unset it."
                    )));
                }
            },
        };
        let url = match database_url {
            Some(url) if executable && on => url,
            _ => return Ok(Upkeep::Inline),
        };
        match std::env::current_exe() {
            Ok(exe) => Ok(Upkeep::Detached(Child {
                exe,
                database_url: url.to_string(),
                connect_timeout,
            })),
            Err(e) => {
                tracing::debug!(error = %e, "cannot find this executable; the run cleans up after a restore itself");
                Ok(Upkeep::Inline)
            }
        }
    }
}

/// How to start `seed snapshot maintain`. No `Debug`: it holds the connection string.
#[derive(Clone)]
pub(crate) struct Child {
    exe: PathBuf,
    /// The run's connection string as given: the child needs its password too.
    database_url: String,
    connect_timeout: Option<Duration>,
}

impl Child {
    /// The child's command. The connection string travels in its environment only: any user
    /// of the machine can read a process's command line (`ps`, `/proc/PID/cmdline`), while
    /// its environment is readable by its own user alone.
    pub(crate) fn command(&self, job: &Maintain) -> Command {
        let mut cmd = Command::new(&self.exe);
        cmd.args(["snapshot", "maintain"]);
        // `--name=value`: a role may be called `-x`.
        if let Some(r) = &job.replaced {
            cmd.arg(format!("--replaced={r}"));
        }
        if let (Some(s), Some(o)) = (&job.spare_of, &job.owner) {
            cmd.arg(format!("--spare-of={s}"));
            cmd.arg(format!("--owner={o}"));
        }
        cmd.env("DATABASE_URL", &self.database_url)
            .env_remove("DATABASE_CONNECT_TIMEOUT")
            .env_remove(crate::DEMO_PASSWORD_VAR);
        if let Some(t) = self.connect_timeout {
            cmd.env("DATABASE_CONNECT_TIMEOUT", format!("{}ms", t.as_millis()));
        }
        // Nothing of the run's: no terminal or pipe (a caller reading the run's output to its
        // end must not wait for the child), no folder (it may be removed, and its `.env` is
        // not the child's business), and a process group of its own, so the Ctrl-C that
        // interrupts the next command in the terminal does not stop it halfway.
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .current_dir("/");
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        cmd
    }

    /// Starts the child and returns without waiting for it.
    pub(crate) fn start(&self, job: &Maintain) -> std::io::Result<()> {
        // Dropping the handle neither kills nor waits for it: it outlives the run by design.
        self.command(job).spawn().map(drop)
    }
}

/// `seed snapshot maintain`: makes the spare (`--spare-of`, `--owner`), then drops the
/// replaced database (`--replaced`) and any other one a restore left behind (its process or
/// child killed). Every step is tried; the first failure is returned (nobody reads it, the
/// child's output goes nowhere: a failed step costs only the next restore's speed, and the
/// next child sweeps what this one left).
pub(crate) async fn run(info: &ConnInfo, job: &Maintain) -> Result<()> {
    // Only ever groundwork's own databases, whatever the command line says.
    if let Some(r) = job
        .replaced
        .as_deref()
        .filter(|r| !r.starts_with(ASIDE_PREFIX))
    {
        return Err(SeedError::Usage(format!(
            "`{r}` is not a database a restore replaced: their names start with {ASIDE_PREFIX}"
        )));
    }
    if let Some(s) = job
        .spare_of
        .as_deref()
        .filter(|s| !s.starts_with(NAME_PREFIX))
    {
        return Err(SeedError::Usage(format!(
            "`{s}` is not a snapshot: their names start with {NAME_PREFIX}"
        )));
    }
    let admin = Admin::connect(info).await?;
    admin.limit_lock_waits().await?;
    let mut first_error = None;
    // The spare first: the next restore may be seconds away, and waits for a spare being
    // made rather than copying the snapshot itself; the replaced database can wait.
    if let (Some(snapshot), Some(owner)) = (&job.spare_of, &job.owner)
        && let Err(e) = admin.make_spare(snapshot, owner).await
    {
        first_error.get_or_insert(e);
    }
    if let Some(replaced) = &job.replaced
        && let Err(e) = admin.drop_aside(replaced).await
    {
        first_error.get_or_insert(e);
    }
    if let Err(e) = admin.sweep_replaced().await {
        first_error.get_or_insert(e);
    }
    first_error.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn child(url: &str) -> Child {
        Child {
            exe: PathBuf::from("/usr/local/bin/seed"),
            database_url: url.to_string(),
            connect_timeout: Some(Duration::from_millis(2500)),
        }
    }

    #[test]
    fn the_connection_string_goes_in_the_environment_never_on_the_command_line() {
        let url = "postgres://app:s3cret-pw@db.internal:5432/app_dev";
        let job = Maintain {
            replaced: Some(format!("{ASIDE_PREFIX}4242")),
            spare_of: Some(format!("{NAME_PREFIX}0123456789abcdef01234567")),
            owner: Some("app".into()),
        };
        let cmd = child(url).command(&job);
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "snapshot",
                "maintain",
                &format!("--replaced={ASIDE_PREFIX}4242"),
                &format!("--spare-of={NAME_PREFIX}0123456789abcdef01234567"),
                "--owner=app",
            ]
        );
        for a in &args {
            assert!(!a.contains("s3cret"), "{a}");
            assert!(!a.contains("postgres://"), "{a}");
            assert!(!a.contains("db.internal"), "{a}");
        }
        let env: Vec<(String, Option<String>)> = cmd
            .get_envs()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.map(|v| v.to_string_lossy().into_owned()),
                )
            })
            .collect();
        assert!(
            env.contains(&("DATABASE_URL".into(), Some(url.into()))),
            "{:?}",
            env.iter().map(|(k, _)| k).collect::<Vec<_>>()
        );
        assert!(env.contains(&("DATABASE_CONNECT_TIMEOUT".into(), Some("2500ms".into()))));
        assert!(env.contains(&(crate::DEMO_PASSWORD_VAR.into(), None)));
        assert_eq!(cmd.get_current_dir(), Some(std::path::Path::new("/")));
    }

    #[test]
    fn the_child_command_parses_as_the_hidden_subcommand() {
        use clap::Parser;
        let job = Maintain {
            replaced: None,
            spare_of: Some(format!("{NAME_PREFIX}0123456789abcdef01234567")),
            owner: Some("-odd role".into()),
        };
        let cmd = child("postgres://localhost/x").command(&job);
        let args = std::iter::once(std::ffi::OsString::from("seed"))
            .chain(cmd.get_args().map(|a| a.to_os_string()));
        let cli = crate::cli::Cli::try_parse_from(args).map_err(|e| e.to_string());
        match cli.map(|c| c.command) {
            Ok(Some(crate::cli::Command::Snapshot(crate::cli::SnapshotCommand::Maintain(m)))) => {
                assert_eq!(m.replaced, None);
                assert_eq!(m.spare_of, job.spare_of);
                assert_eq!(m.owner.as_deref(), Some("-odd role"));
            }
            other => panic!("not `snapshot maintain`: {other:?}"),
        }
    }
}
