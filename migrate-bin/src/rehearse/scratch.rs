//! The rehearsal's scratch database: created empty under a fresh name on the target's
//! server, dropped by that name only.

use tokio_postgres::Client;

use super::source::db_error;
use crate::error::MigrateError;
use crate::policy::ConnInfo;
use crate::sql::quote_ident;

/// Names start with this, so a leftover (a killed run, `--keep`) is recognisable.
pub const PREFIX: &str = "gw_rehearse_";

/// A scratch database this run created.
pub struct Scratch {
    /// Its name.
    pub name: String,
    /// How to reach it.
    pub conn: ConnInfo,
}

impl Scratch {
    /// Creates an empty database `gw_rehearse_<target>_<random>` through `admin`.
    pub async fn create(admin: &Client, target: &ConnInfo) -> Result<Self, MigrateError> {
        let random = uuid::Uuid::new_v4().simple().to_string();
        let mut base: String = target
            .database()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        // PostgreSQL cuts names at 63 bytes; the random part must survive.
        base.truncate(63 - PREFIX.len() - 9);
        let name = format!("{PREFIX}{base}_{}", &random[..8]);
        // template0: a copy of template1 would carry whatever was added to it, and the
        // restore must start from nothing.
        admin
            .batch_execute(&format!(
                "CREATE DATABASE {} TEMPLATE template0",
                quote_ident(&name)
            ))
            .await
            .map_err(|e| {
                let mut err = db_error(&format!("creating the scratch database {name}"), &e);
                if let MigrateError::Database { error, .. } = &mut err {
                    error.push_str(
                        "; the role needs CREATEDB to rehearse (or rehearse as a role that has it)",
                    );
                }
                err
            })?;
        Ok(Self {
            conn: target.with_database(&name),
            name,
        })
    }

    /// Drops it, ending any session still connected to it.
    pub async fn drop(self, admin: &Client) -> Result<(), MigrateError> {
        admin
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                quote_ident(&self.name)
            ))
            .await
            .map_err(|e| {
                db_error(
                    &format!(
                        "dropping the scratch database {} (drop it by hand)",
                        self.name
                    ),
                    &e,
                )
            })
    }
}
