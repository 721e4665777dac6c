//! Stage 09_migration_waves: migration waves (pilot first) respecting database dependencies

use crate::error::Result;
use crate::fingerprint::{OwnedTable, table};
use crate::stage::{Ctx, Stage};
use diesel_async::AsyncPgConnection;
use futures_util::future::BoxFuture;

/// Tables this stage writes.
const TABLES: &[OwnedTable] = &[table("migration_waves"), table("wave_assets")];

/// Stage id.
pub const ID: &str = "09_migration_waves";

/// migration waves (pilot first) respecting database dependencies
pub struct ThisStage;

impl Stage for ThisStage {
    fn id(&self) -> &'static str {
        ID
    }
    fn version(&self) -> i32 {
        1
    }
    fn description(&self) -> &'static str {
        "migration waves (pilot first) respecting database dependencies"
    }
    fn prerequisites(&self) -> &'static [&'static str] {
        &["07_dependencies", "08_assessments"]
    }
    fn tables(&self) -> &'static [OwnedTable] {
        TABLES
    }
    fn run<'a>(
        &'a self,
        _ctx: &'a Ctx,
        _conn: &'a mut AsyncPgConnection,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { Ok(()) })
    }
}
