//! Stage 01_core_entities: tenants, engagements, users and roles, tags, the test agent API key

use crate::error::Result;
use crate::fingerprint::{OwnedTable, table};
use crate::stage::{Ctx, Stage};
use diesel_async::AsyncPgConnection;
use futures_util::future::BoxFuture;

/// Tables this stage writes.
const TABLES: &[OwnedTable] = &[
    table("client_accounts"),
    table("engagements"),
    table("users"),
    table("user_account_roles"),
    table("tags"),
    OwnedTable {
        name: "api_keys",
        not_fingerprinted: &["key_hash", "key_prefix"],
    },
];

/// Stage id.
pub const ID: &str = "01_core_entities";

/// tenants, engagements, users and roles, tags, the test agent API key
pub struct ThisStage;

impl Stage for ThisStage {
    fn id(&self) -> &'static str {
        ID
    }
    fn version(&self) -> i32 {
        1
    }
    fn description(&self) -> &'static str {
        "tenants, engagements, users and roles, tags, the test agent API key"
    }
    fn prerequisites(&self) -> &'static [&'static str] {
        &[]
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
