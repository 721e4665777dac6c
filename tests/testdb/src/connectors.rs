//! Connections to a [`TestDb`] for async callers, behind cargo features so the kit's default
//! dependencies stay light: `tokio-postgres` and `diesel-async` (whose sync wrapper also
//! serves plain diesel code, without libpq).

use crate::TestDb;

#[cfg(feature = "tokio-postgres")]
impl TestDb {
    /// A `tokio-postgres` client on this database; its connection task runs on the current
    /// tokio runtime until the client is dropped.
    pub async fn tokio_postgres(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(self.url(), tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("connect to test database {}: {e}", self.name()));
        tokio::spawn(async move {
            // The connection ends with an error only when the server goes away; the
            // client's next query reports that to the test.
            let _ = connection.await;
        });
        client
    }
}

#[cfg(feature = "diesel-async")]
impl TestDb {
    /// A `diesel-async` connection on this database.
    pub async fn diesel_async(&self) -> diesel_async::AsyncPgConnection {
        use diesel_async::AsyncConnection as _;
        diesel_async::AsyncPgConnection::establish(self.url())
            .await
            .unwrap_or_else(|e| panic!("connect to test database {}: {e}", self.name()))
    }

    /// A synchronous diesel connection on this database (diesel-async's wrapper: a
    /// `diesel::Connection` without libpq). Call it outside an async runtime.
    pub fn diesel(
        &self,
    ) -> diesel_async::async_connection_wrapper::AsyncConnectionWrapper<
        diesel_async::AsyncPgConnection,
    > {
        use diesel::Connection as _;
        diesel_async::async_connection_wrapper::AsyncConnectionWrapper::establish(self.url())
            .unwrap_or_else(|e| panic!("connect to test database {}: {e}", self.name()))
    }
}
