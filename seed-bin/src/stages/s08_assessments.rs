//! Stage 08_assessments: technical, risk, performance and security assessments with a 6R recommendation

use crate::error::Result;
use crate::fingerprint::{OwnedTable, table};
use crate::stage::{Ctx, Stage};
use diesel_async::AsyncPgConnection;
use futures_util::future::BoxFuture;

/// Tables this stage writes.
const TABLES: &[OwnedTable] = &[table("assessments")];

/// Stage id.
pub const ID: &str = "08_assessments";

/// technical, risk, performance and security assessments with a 6R recommendation
pub struct ThisStage;

impl Stage for ThisStage {
    fn id(&self) -> &'static str {
        ID
    }
    fn version(&self) -> i32 {
        1
    }
    fn description(&self) -> &'static str {
        "technical, risk, performance and security assessments with a 6R recommendation"
    }
    fn prerequisites(&self) -> &'static [&'static str] {
        &["00_reference_data", "06_assets"]
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
