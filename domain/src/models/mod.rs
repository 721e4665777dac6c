//! Row types, one module per area of the schema.
//!
//! `X` is a row as read (`Queryable` + `Selectable`; select it with
//! `X::as_select()`), `NewX` a row to insert (`Insertable`). Every `NewX` takes
//! its `id`: the seed derives ids with UUIDv5 from natural keys, an application
//! can use `Uuid::now_v7()`.
//!
//! `diesel print-schema` emits `joinable!` only for single-column foreign keys;
//! the tenant-scoped composite ones are joined explicitly, on both columns, e.g.
//! `assets::table.inner_join(engagements::table.on(engagements::client_account_id
//! .eq(assets::client_account_id).and(engagements::id.eq(assets::engagement_id))))`.

// Module names differ from the table names on purpose: `use domain::models::*`
// and `use domain::schema::*` together must not make `assets` ambiguous.
pub mod discovery;
pub mod inventory;
pub mod planning;
pub mod reference;
pub mod tenancy;

pub use discovery::*;
pub use inventory::*;
pub use planning::*;
pub use reference::*;
pub use tenancy::*;
