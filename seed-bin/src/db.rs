//! Connections: a fail-fast first connection, then a bb8 pool of diesel-async connections.
//! Every one of them is opened by the policy core's [`groundwork_migrate::policy::connect`],
//! so seed shares migrate's parser, redaction and connect deadline.

use crate::error::{Result, SeedError};
use diesel_async::pooled_connection::bb8::Pool;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, PoolError};
use diesel_async::{AsyncPgConnection, SimpleAsyncConnection};
use futures_util::FutureExt;
use groundwork_migrate::ConnInfo;
use groundwork_migrate::policy;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Name of seed's sessions in `pg_stat_activity`.
const APPLICATION_NAME: &str = "groundwork-seed";

/// Session settings every connection gets: UTC so timestamps render the same everywhere
/// (fingerprints compare text).
const SESSION_SETUP: &str = "SET TIME ZONE 'UTC'";

/// Shortest wait for a pooled connection. A checkout may also wait for a busy connection to
/// come back, which has nothing to do with connecting, so it is never shorter than this.
const MIN_CHECKOUT_WAIT: Duration = Duration::from_secs(30);

/// Parses the connection string of a run: a malformed one is a usage error (exit 2, as in
/// `migrate`); `timeout` (from `--connect-timeout`) wins over the string's `connect_timeout`.
pub fn parse(text: &str, timeout: Option<Duration>) -> Result<ConnInfo> {
    Ok(ConnInfo::parse(text)?.with_connect_timeout(timeout))
}

/// Opens one plain connection; a bad URL or a missing database fails here with the real error.
pub async fn connect(info: &ConnInfo) -> Result<AsyncPgConnection> {
    let mut conn = policy::connect(info, APPLICATION_NAME).await?;
    conn.batch_execute(SESSION_SETUP)
        .await
        .map_err(SeedError::db("setting up the session"))?;
    Ok(conn)
}

/// bb8 would otherwise swallow connection errors and report only a timeout: the sink logs
/// each one and keeps the last, so a checkout that times out can say why.
#[derive(Debug, Clone, Default)]
struct LastError(Arc<Mutex<Option<String>>>);

impl bb8::ErrorSink<PoolError> for LastError {
    fn sink(&self, error: PoolError) {
        tracing::error!(%error, "database pool could not open a connection");
        if let Ok(mut last) = self.0.lock() {
            *last = Some(error.to_string());
        }
    }
    fn boxed_clone(&self) -> Box<dyn bb8::ErrorSink<PoolError>> {
        Box::new(self.clone())
    }
}

/// The pool every stage borrows from, and what its connections last failed with.
#[derive(Clone)]
pub struct PgPool {
    /// The bb8 pool.
    pub pool: Pool<AsyncPgConnection>,
    last_error: LastError,
    target: String,
}

/// Builds the pool (after [`connect`] proved the settings work). Its connections come from
/// [`connect`], so each has the connect deadline; the manager gets only the redacted URL,
/// so no copy of the password lives in it.
pub async fn pool(info: &ConnInfo, size: u32) -> Result<PgPool> {
    let mut cfg = ManagerConfig::<AsyncPgConnection>::default();
    let setup_info = info.clone();
    cfg.custom_setup = Box::new(move |_redacted_url| {
        let info = setup_info.clone();
        async move {
            connect(&info)
                .await
                .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))
        }
        .boxed()
    });
    let mgr =
        AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(info.redacted(), cfg);
    let last_error = LastError::default();
    let pool = Pool::builder()
        .max_size(size)
        .connection_timeout(MIN_CHECKOUT_WAIT.max(info.connect_timeout() + Duration::from_secs(5)))
        .error_sink(Box::new(last_error.clone()))
        .build(mgr)
        .await
        .map_err(|e| {
            SeedError::Connect(format!("cannot build the connection pool for {info}: {e}"))
        })?;
    Ok(PgPool {
        pool,
        last_error,
        target: info.redacted(),
    })
}

/// Borrows a connection from the pool; a timeout names the last connect error.
pub async fn get(
    pool: &PgPool,
) -> Result<bb8::PooledConnection<'_, AsyncDieselConnectionManager<AsyncPgConnection>>> {
    {
        pool.pool.get().await.map_err(|e| {
            let last = pool.last_error.0.lock().ok().and_then(|l| l.clone());
            SeedError::Connect(match last {
                Some(cause) => format!(
                    "cannot get a database connection to {}: {cause}",
                    pool.target
                ),
                None => format!(
                    "cannot get a database connection to {}: {e} (every connection stayed busy)",
                    pool.target
                ),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::time::Instant;

    /// A server that accepts connections and never answers; returns its port.
    fn silent_server() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().flatten() {
                held.push(stream);
            }
        });
        port
    }

    fn silent_info() -> (ConnInfo, u16) {
        let port = silent_server();
        let info = parse(
            &format!("postgres://seed:S3cretPw@127.0.0.1:{port}/x"),
            Some(Duration::from_secs(1)),
        )
        .expect("parses");
        (info, port)
    }

    #[tokio::test]
    async fn bulk_copy_connections_give_up_on_a_silent_server() {
        let (info, port) = silent_info();
        let started = Instant::now();
        let err = crate::bulk::BulkLoader::connect_with(&info, 1)
            .await
            .err()
            .expect("a silent server cannot be loaded into");
        assert!(started.elapsed() < Duration::from_secs(5));
        let msg = err.to_string();
        assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
        assert!(msg.contains("did not complete the connection"), "{msg}");
        assert!(!msg.contains("S3cretPw"), "{msg}");
    }

    #[tokio::test]
    async fn pool_checkout_on_a_silent_server_names_the_connect_error() {
        let (info, port) = silent_info();
        let pool = pool(&info, 1).await.expect("building connects nothing");
        let started = Instant::now();
        let err = get(&pool).await.err().expect("no connection can be made");
        // bb8 retries until its checkout wait; every attempt has the 1 s connect deadline.
        assert!(started.elapsed() < MIN_CHECKOUT_WAIT + Duration::from_secs(10));
        let msg = err.to_string();
        assert!(matches!(err, SeedError::Connect(_)), "{msg}");
        assert!(msg.contains("did not complete the connection"), "{msg}");
        assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
        assert!(!msg.contains("S3cretPw"), "{msg}");
    }

    #[test]
    fn malformed_strings_are_usage_errors() {
        let err = parse("postgres://u:p@ss@h/db", None).expect_err("malformed");
        assert_eq!(policy::ExitStatus::exit_code(&err), policy::Code::Usage);
        assert!(!err.to_string().contains("p@ss"), "{err}");
    }
}
