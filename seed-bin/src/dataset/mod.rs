//! The dataset model: what the demo data is, independent of how a stage writes it.
//!
//! Stages read their shared facts here (ids, plans, generators), never from one another, so a
//! stage's module depends on this model and on the writers only. Everything is a pure function
//! of [`Dataset`] (seed, `--as-of`, `--scale`, the core data file) and a [`Tenant`].

mod accounts;
mod assets;
pub mod custom;
mod flows;
mod graph;
mod imports;
mod records;
mod reference;
pub mod stage_id;

pub use accounts::{
    analyst, display_name, engagement_id, engagements, main_engagement, manager, tag_id, user_id,
    users,
};
pub use assets::{PlannedAsset, assets};
pub use flows::{FlowSpec, PHASES, flow_id, flows};
pub use graph::{edges, migrates, strategies};
pub use imports::{IMPORTS, ImportSpec, import_id, merged_at};
pub use records::{PlannedImportRows, records, source_counts};
pub use reference::technology_id;

use crate::data::CoreData;
use crate::ids;
use chrono::NaiveDate;
use uuid::Uuid;

/// The inputs that decide every generated value: the same inputs give the same rows.
pub struct Dataset {
    pub rng_seed: u64,
    pub as_of: NaiveDate,
    pub scale: u32,
    pub core: CoreData,
    /// A factory's run: these tenants instead of the seeded ones (see `crate::factory`).
    pub only: Option<Vec<Tenant>>,
}

/// A tenant to generate data for.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// Natural key of the account.
    pub slug: String,
    /// Its id (UUIDv5 of the slug).
    pub id: Uuid,
    /// Position in the core file, or 1000+ for synthetic tenants.
    pub index: usize,
    /// Demo-shaped (the full Democorp dataset) or a small side tenant.
    pub demo_shaped: bool,
    /// A factory's requests (asset count, graph shape, extra flows); `None` for seeded tenants.
    pub custom: Option<std::sync::Arc<custom::Custom>>,
}

impl Dataset {
    /// The tenants of this run: the core file's accounts (the first is demo-shaped) and, with
    /// `--scale N`, N-1 synthetic demo-shaped tenants.
    pub fn tenants(&self) -> Vec<Tenant> {
        if let Some(only) = &self.only {
            return only.clone();
        }
        self.seeded_tenants()
    }

    /// The tenants `seed` generates, whatever a factory run asked for.
    pub fn seeded_tenants(&self) -> Vec<Tenant> {
        let mut out: Vec<Tenant> = self
            .core
            .file
            .accounts
            .iter()
            .enumerate()
            .map(|(i, a)| Tenant {
                slug: a.slug.get_ref().clone(),
                id: account_id(a.slug.get_ref()),
                index: i,
                demo_shaped: i == 0,
                custom: None,
            })
            .collect();
        for n in 2..=self.scale {
            let slug = format!("synthetic-{n:05}");
            out.push(Tenant {
                id: account_id(&slug),
                slug,
                index: 1000 + n as usize,
                demo_shaped: true,
                custom: None,
            });
        }
        out
    }

    /// The generator of one random stream (see [`stage_id`]'s streams) for one tenant.
    pub fn rng(&self, stream: &str, tenant: &Tenant) -> rand_chacha::ChaCha8Rng {
        ids::rng(self.rng_seed, stream, &tenant.slug)
    }
}

/// The id of an account from its slug.
pub fn account_id(slug: &str) -> Uuid {
    ids::id("client_account", slug)
}
