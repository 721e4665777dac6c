//! The bulk loader's own connections and their errors.

use super::describe;
use super::{BulkError, Result};
use groundwork_migrate::{ConnInfo, MigrateError};
use tokio_postgres::Client;

/// `postgres://user@host:port/database`, never the password.
pub(super) fn describe_target(cfg: &ConnInfo) -> String {
    cfg.redacted()
}

/// Opens a `COPY` connection through the engine's connect, so it has the same deadline (a
/// silent server fails the stage instead of hanging it) and the same redaction.
pub(super) async fn open(cfg: &ConnInfo, target: &str) -> Result<Client> {
    let (client, connection) =
        groundwork_migrate::policy::connect_client(cfg, "groundwork-seed-bulk")
            .await
            .map_err(|e| BulkError::Connect {
                target: target.to_string(),
                cause: match e {
                    MigrateError::Unreachable { reason, .. } => reason,
                    MigrateError::DatabaseMissing { database, .. } => {
                        format!("database `{database}` does not exist")
                    }
                    other => other.to_string(),
                },
            })?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "bulk-load connection ended with an error");
        }
    });
    Ok(client)
}

pub(super) fn db_err(
    table: &str,
    doing: impl Into<String>,
) -> impl FnOnce(tokio_postgres::Error) -> BulkError {
    let (table, doing) = (table.to_string(), doing.into());
    move |e| BulkError::Database {
        table,
        doing,
        cause: describe(&e),
    }
}
