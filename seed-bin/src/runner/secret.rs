//! A secret a stage created (stage 01's test agent key): shown once on stdout as soon as its
//! stage commits, written with `--write-env`, and marked delivered in the ledger; a later run
//! warns about a key a killed run never showed.

use crate::KEY_ENV_VAR;
use crate::cli;
use crate::envfile;
use crate::error::{Result, SeedError};
use crate::ledger;
use crate::stages::stage::Ctx;
use diesel_async::AsyncPgConnection;
use groundwork_migrate::policy;

/// Prints the committed new key (and writes it with `--write-env`), then records in the
/// ledger that it was delivered. A run killed before that leaves the row undelivered, and
/// the next run says so.
/// Returns why the key could not be printed or written; the run reports it at the end (the
/// stages after 01 still run). Used by a stage run and by a restore from a snapshot.
pub(crate) async fn deliver(
    ctx: &Ctx,
    conn: &mut AsyncPgConnection,
    row: i64,
    key: &str,
) -> Result<()> {
    show(ctx, key, ctx.write_env.as_deref())?;
    if let Err(e) = ledger::key_delivered(conn, row).await {
        tracing::warn!(error = %e, "could not record that the API key was shown; the next run will say it was not");
    }
    Ok(())
}

/// Tells the user when a key was created by a run that ended before showing it.
pub(super) async fn warn_undelivered(conn: &mut AsyncPgConnection, ctx: &Ctx) -> Result<()> {
    let Some(at) = ledger::undelivered_key(conn).await? else {
        return Ok(());
    };
    let at = at.format("%Y-%m-%d %H:%M:%S UTC");
    if ctx.rotate_key {
        ctx.reporter.note(&format!(
            "replacing the API key created at {at} by a seed run that ended before it confirmed showing the key"
        ));
    } else {
        // stderr even with --quiet: if nobody has the stored key, the app's test agent cannot
        // authenticate until it is replaced.
        eprintln!(
            "warning: the test agent API key was created at {at} by a seed run that ended before it confirmed showing the key (printed, or written with --write-env), so it may be lost. If you do not have it, get a new one with `seed --rotate-key --write-env` (it replaces the old key)."
        );
    }
    Ok(())
}

/// Prints a newly created key once on stdout (the one place the plaintext is printed), then
/// writes it with `--write-env`.
fn show(ctx: &Ctx, key: &str, write_env: Option<&std::path::Path>) -> Result<()> {
    let printed = match ctx.reporter.format() {
        cli::LogFormat::Json => policy::write_line(format_args!(
            "{}",
            serde_json::json!({"event": "api_key", "name": KEY_ENV_VAR, "key": key})
        )),
        cli::LogFormat::Text => {
            eprintln!("New test agent API key (shown once; it is stored only as a hash):");
            policy::write_line(format_args!("{KEY_ENV_VAR}={key}"))
        }
    };
    // A closed stdout loses the printed copy; with --write-env the file still delivers it.
    if let Err(source) = printed
        && write_env.is_none()
    {
        return Err(SeedError::Io {
            doing: "cannot print the new API key to",
            path: "standard output".into(),
            source,
        });
    }
    if let Some(path) = write_env {
        envfile::set_var(path, KEY_ENV_VAR, key)?;
        ctx.reporter.note(&format!(
            "wrote {KEY_ENV_VAR} to {} (mode 0600)",
            path.display()
        ));
    }
    Ok(())
}
