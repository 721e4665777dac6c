//! Connections: a fail-fast first connection, then a bb8 pool of diesel-async connections.

use crate::error::{Result, SeedError};
use diesel_async::pooled_connection::bb8::Pool;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, PoolError};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use std::time::Duration;

/// The pool every stage borrows from.
pub type PgPool = Pool<AsyncPgConnection>;

/// The URL with its password replaced by `***`, for messages and logs (the engine's rules:
/// URLs, key/value strings and malformed input).
pub use groundwork_migrate::redact;

/// Session settings every connection gets: UTC so timestamps render the same everywhere
/// (fingerprints compare text), and a name so `pg_stat_activity` shows who we are.
const SESSION_SETUP: &str = "SET TIME ZONE 'UTC'; SET application_name = 'groundwork-seed'";

/// Opens one plain connection; a bad URL or a missing database fails here with the real error.
pub async fn connect(url: &str) -> Result<AsyncPgConnection> {
    let mut conn = AsyncPgConnection::establish(url)
        .await
        .map_err(|e| SeedError::Connect {
            url: redact(url),
            cause: e.to_string(),
        })?;
    conn.batch_execute(SESSION_SETUP)
        .await
        .map_err(SeedError::db("setting up the session"))?;
    Ok(conn)
}

fn establish(url: &str) -> BoxFuture<'_, diesel::ConnectionResult<AsyncPgConnection>> {
    async move {
        let mut conn = AsyncPgConnection::establish(url).await?;
        conn.batch_execute(SESSION_SETUP)
            .await
            .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
        Ok(conn)
    }
    .boxed()
}

/// bb8 would otherwise swallow connection errors and report only a timeout.
#[derive(Debug, Clone, Copy)]
struct LogSink;

impl bb8::ErrorSink<PoolError> for LogSink {
    fn sink(&self, error: PoolError) {
        tracing::error!(%error, "database pool could not open a connection");
    }
    fn boxed_clone(&self) -> Box<dyn bb8::ErrorSink<PoolError>> {
        Box::new(*self)
    }
}

/// Builds the pool (after [`connect`] proved the URL works).
pub async fn pool(url: &str, size: u32) -> Result<PgPool> {
    let mut cfg = ManagerConfig::<AsyncPgConnection>::default();
    cfg.custom_setup = Box::new(establish);
    let mgr = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, cfg);
    Pool::builder()
        .max_size(size)
        .connection_timeout(Duration::from_secs(30))
        .error_sink(Box::new(LogSink))
        .build(mgr)
        .await
        .map_err(|e| SeedError::Connect {
            url: redact(url),
            cause: e.to_string(),
        })
}

/// Borrows a connection from the pool.
pub async fn get(
    pool: &PgPool,
) -> Result<bb8::PooledConnection<'_, AsyncDieselConnectionManager<AsyncPgConnection>>> {
    pool.get().await.map_err(|e| SeedError::Connect {
        url: "the pool".into(),
        cause: e.to_string(),
    })
}
