//! The one way both binaries open a connection: a dedicated, never pooled connection (or a
//! plain driver client for `COPY`) from a parsed [`ConnInfo`], under one deadline, with
//! connect failures classified into the errors the exit-code table knows.

use diesel_async::AsyncPgConnection;
use tokio_postgres::error::SqlState;

use super::target::ConnInfo;
use crate::error::MigrateError;

/// A driver connection's I/O half, to be spawned by whoever opened it.
pub type DriverConnection =
    tokio_postgres::Connection<tokio_postgres::Socket, tokio_postgres::tls::NoTlsStream>;

/// Opens a plain driver connection (for `COPY` and other work diesel-async cannot do) within
/// the connect deadline of `info`. The caller spawns the returned connection half.
pub async fn connect_client(
    info: &ConnInfo,
    application_name: &str,
) -> Result<(tokio_postgres::Client, DriverConnection), MigrateError> {
    within_deadline(info, open_client(info, application_name)).await
}

/// Opens a dedicated (never pooled) connection, so session state such as advisory locks and
/// `lock_timeout` belongs to this run alone and dies with it. Every connection of both
/// binaries goes through here or [`connect_client`], so none can hang: the whole of it (TCP
/// connect, startup and authentication handshake, diesel-async's setup) must finish within
/// [`ConnInfo::connect_timeout`].
pub async fn connect(
    info: &ConnInfo,
    application_name: &str,
) -> Result<AsyncPgConnection, MigrateError> {
    within_deadline(info, async {
        let (client, connection) = open_client(info, application_name).await?;
        AsyncPgConnection::try_from_client_and_connection(client, connection)
            .await
            .map_err(|e| MigrateError::Unreachable {
                url: info.redacted(),
                reason: info.scrub(&e.to_string()),
            })
    })
    .await
}

async fn open_client(
    info: &ConnInfo,
    application_name: &str,
) -> Result<(tokio_postgres::Client, DriverConnection), MigrateError> {
    let mut config = info.config().clone();
    config.application_name(application_name);
    config
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(|e| classify_connect_error(&e, info))
}

/// tokio-postgres's `connect_timeout` bounds only the TCP connect of each host; a server
/// that accepts the connection and never speaks would hold the startup handshake forever.
/// One deadline over the whole attempt is what "never hang" needs.
async fn within_deadline<T>(
    info: &ConnInfo,
    attempt: impl std::future::Future<Output = Result<T, MigrateError>>,
) -> Result<T, MigrateError> {
    let limit = info.connect_timeout();
    match tokio::time::timeout(limit, attempt).await {
        Ok(result) => result,
        Err(_) => Err(MigrateError::Unreachable {
            url: info.redacted(),
            reason: format!(
                "the server at {} did not complete the connection within {:.1} s (it accepted \
                 the TCP connection or the network swallowed it, but the startup handshake never \
                 finished). If it is only slow, raise --connect-timeout (or DATABASE_CONNECT_TIMEOUT)",
                info.host_port(),
                limit.as_secs_f64()
            ),
        }),
    }
}

fn classify_connect_error(e: &tokio_postgres::Error, info: &ConnInfo) -> MigrateError {
    if e.code() == Some(&SqlState::INVALID_CATALOG_NAME) {
        return MigrateError::DatabaseMissing {
            database: info.database(),
            url: info.redacted(),
        };
    }
    let reason = match e.as_db_error() {
        Some(db) => format!("the server refused the connection: {}", db.message()),
        None => {
            let mut text = format!(
                "{} (server {})",
                crate::sql::cause_chain(e),
                info.host_port()
            );
            if info.config().get_ssl_mode() == tokio_postgres::config::SslMode::Require {
                text.push_str(
                    "; sslmode=require cannot be met: migrate and seed connect without TLS, so \
                     use sslmode=disable or prefer on a trusted network, or a TLS tunnel",
                );
            }
            text
        }
    };
    MigrateError::Unreachable {
        url: info.redacted(),
        reason: info.scrub(&reason),
    }
}

/// `migrate <version> <user>@<host>`: shown in `pg_stat_activity`, so a DBA (or a waiting
/// migrator) can tell who holds the migration lock.
pub fn application_name() -> String {
    // PostgreSQL truncates application_name to 63 bytes.
    let mut name = format!(
        "migrate {} {}@{}",
        env!("CARGO_PKG_VERSION"),
        crate::identity::os_user(),
        crate::identity::host()
    );
    while name.len() > 63 {
        name.pop();
    }
    name
}
