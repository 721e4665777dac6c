//! Stage 06_assets: 60 Democorp assets (apps, servers, databases, network) and their tags

use crate::error::Result;
use crate::fingerprint::{OwnedTable, table};
use crate::stage::{Ctx, Stage};
use diesel_async::AsyncPgConnection;
use futures_util::future::BoxFuture;

/// Tables this stage writes.
const TABLES: &[OwnedTable] = &[table("assets"), table("asset_tags")];

/// Stage id.
pub const ID: &str = "06_assets";

/// 60 Democorp assets (apps, servers, databases, network) and their tags
pub struct ThisStage;

impl Stage for ThisStage {
    fn id(&self) -> &'static str {
        ID
    }
    fn version(&self) -> i32 {
        1
    }
    fn description(&self) -> &'static str {
        "60 Democorp assets (apps, servers, databases, network) and their tags"
    }
    fn prerequisites(&self) -> &'static [&'static str] {
        &["01_core_entities"]
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
