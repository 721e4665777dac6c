//! Stage 02_discovery_flows: discovery flows: 3 completed, 1 paused at field mapping, 1 failed (Democorp)

use crate::error::Result;
use crate::fingerprint::{OwnedTable, table};
use crate::stage::{Ctx, Stage};
use diesel_async::AsyncPgConnection;
use futures_util::future::BoxFuture;

/// Tables this stage writes.
const TABLES: &[OwnedTable] = &[table("discovery_flows")];

/// Stage id.
pub const ID: &str = "02_discovery_flows";

/// discovery flows: 3 completed, 1 paused at field mapping, 1 failed (Democorp)
pub struct ThisStage;

impl Stage for ThisStage {
    fn id(&self) -> &'static str {
        ID
    }
    fn version(&self) -> i32 {
        1
    }
    fn description(&self) -> &'static str {
        "discovery flows: 3 completed, 1 paused at field mapping, 1 failed (Democorp)"
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
