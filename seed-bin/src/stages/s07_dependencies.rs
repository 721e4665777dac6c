//! Stage 07_dependencies: dependency edges between assets, with a cycle and no self-edges

use crate::error::Result;
use crate::fingerprint::{OwnedTable, table};
use crate::stage::{Ctx, Stage};
use diesel_async::AsyncPgConnection;
use futures_util::future::BoxFuture;

/// Tables this stage writes.
const TABLES: &[OwnedTable] = &[table("asset_dependencies")];

/// Stage id.
pub const ID: &str = "07_dependencies";

/// dependency edges between assets, with a cycle and no self-edges
pub struct ThisStage;

impl Stage for ThisStage {
    fn id(&self) -> &'static str {
        ID
    }
    fn version(&self) -> i32 {
        1
    }
    fn description(&self) -> &'static str {
        "dependency edges between assets, with a cycle and no self-edges"
    }
    fn prerequisites(&self) -> &'static [&'static str] {
        &["06_assets"]
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
