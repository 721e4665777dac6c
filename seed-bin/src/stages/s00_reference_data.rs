//! Stage 00_reference_data: 6R strategies and the technology catalogue (the only stage allowed in production)

use crate::error::Result;
use crate::fingerprint::{OwnedTable, table};
use crate::stage::{Ctx, Stage};
use diesel_async::AsyncPgConnection;
use futures_util::future::BoxFuture;

/// Tables this stage writes.
const TABLES: &[OwnedTable] = &[table("sixr_strategies"), table("technology_catalog")];

/// Stage id.
pub const ID: &str = "00_reference_data";

/// 6R strategies and the technology catalogue (the only stage allowed in production)
pub struct ThisStage;

impl Stage for ThisStage {
    fn id(&self) -> &'static str {
        ID
    }
    fn version(&self) -> i32 {
        1
    }
    fn description(&self) -> &'static str {
        "6R strategies and the technology catalogue (the only stage allowed in production)"
    }
    fn prerequisites(&self) -> &'static [&'static str] {
        &[]
    }
    fn tables(&self) -> &'static [OwnedTable] {
        TABLES
    }
    fn allowed_in_prod(&self) -> bool {
        true
    }
    fn run<'a>(
        &'a self,
        _ctx: &'a Ctx,
        _conn: &'a mut AsyncPgConnection,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { Ok(()) })
    }
}
