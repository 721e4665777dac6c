//! The table writer: how a stage's rows reach a table, by one rule, with one counts type.
//!
//! Two paths share the rule "insert new rows, update rows whose update columns differ, leave
//! equal rows unwritten" ([`changed`]): the INSERT path ([`insert`], the `insert_or_update!` macro,
//! multi-row statements for small tables) and the COPY path ([`bulk`], staging tables merged
//! inside the stage's transaction, for tables that grow with `--scale`). Leaving equal rows
//! unwritten keeps a rerun from creating row versions, so even a `pg_dump`'s physical order
//! stays the same and `updated_at` triggers never fire.

pub mod bulk;
pub mod insert;

pub use insert::Snapshot;

use groundwork_migrate::ConnInfo;

/// Parallel `COPY` streams of the bulk loader: one per CPU, at most this many connections.
pub const MAX_BULK_STREAMS: u32 = 8;

/// The run's bulk loader, connected when the first stage loads through it (a run of small
/// stages never opens its connections). The runner owns it and hands it to each stage.
pub struct Loader {
    target: ConnInfo,
    cell: tokio::sync::OnceCell<bulk::BulkLoader>,
}

impl Loader {
    /// A loader for `target` (the run's settings, with its `--connect-timeout`).
    pub fn new(target: &ConnInfo) -> Self {
        Loader {
            target: target.clone(),
            cell: tokio::sync::OnceCell::new(),
        }
    }

    /// The connected loader (connecting on first use).
    pub async fn get(&self) -> bulk::Result<&bulk::BulkLoader> {
        self.cell
            .get_or_try_init(|| {
                bulk::BulkLoader::connect_with(
                    &self.target,
                    bulk::default_streams(MAX_BULK_STREAMS),
                )
            })
            .await
    }

    /// The loader if a stage has connected it.
    pub fn connected(&self) -> Option<&bulk::BulkLoader> {
        self.cell.get()
    }
}

/// What a write did to one table (or, summed, to a stage's tables).
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Counts {
    /// Rows written or confirmed (the table's rows after an INSERT-path stage).
    pub rows: u64,
    /// Rows that did not exist.
    pub inserted: u64,
    /// Rows that existed with different values.
    pub updated: u64,
    /// Rows that existed with the same values (not written).
    pub unchanged: u64,
    /// Rows that were there before and are gone after.
    #[serde(default)]
    pub deleted: u64,
}

impl Counts {
    /// Adds another write's counts to these.
    pub fn add(&mut self, other: &Counts) {
        self.rows += other.rows;
        self.inserted += other.inserted;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.deleted += other.deleted;
    }

    /// The sum of several writes' counts.
    pub fn sum<'a>(all: impl IntoIterator<Item = &'a Counts>) -> Counts {
        all.into_iter().fold(Counts::default(), |mut a, c| {
            a.add(c);
            a
        })
    }
}

/// The condition under which a conflicting row is rewritten: its update columns differ from
/// the incoming row's. `target` qualifies the stored row (a table name or alias).
pub fn changed(target: &str, update_cols: &[&str]) -> String {
    let list = |q: &str| {
        update_cols
            .iter()
            .map(|c| format!("{q}.{}", bulk::ident(c)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!("({}) IS DISTINCT FROM ({})", list(target), list("EXCLUDED"))
}
