//! The stage ids: the one place they are spelled. `NN_name`; the number gives the order, and
//! every prerequisite of a stage has a lower number, so `--jobs 1` runs them in number order.
//!
//! An id also names the stage's random stream (`ids::rng`), so a stage renumbered later keeps
//! its first id as its stream name: renumbering must never change the data.

pub const REFERENCE_DATA: &str = "00_reference_data";
pub const CORE_ENTITIES: &str = "01_core_entities";
pub const DISCOVERY_FLOWS: &str = "02_discovery_flows";
pub const DATA_IMPORTS: &str = "03_data_imports";
pub const FIELD_MAPPINGS: &str = "05_field_mappings";
pub const ASSETS: &str = "06_assets";
pub const DEPENDENCIES: &str = "07_dependencies";
pub const ASSESSMENTS: &str = "08_assessments";
pub const MIGRATION_WAVES: &str = "09_migration_waves";
/// Was `04_raw_import_records`: it needs 06's assets, so it moved after them.
pub const RAW_IMPORT_RECORDS: &str = "10_raw_import_records";

/// The random stream of [`RAW_IMPORT_RECORDS`]: its id before the renumbering.
pub const RAW_IMPORT_RECORDS_STREAM: &str = RENAMED[0].0;

/// Ids a stage had before, with the id it has now. The ledger reads rows of the old id as
/// rows of the new one (databases seeded before the renumbering keep working), and `--stage`
/// names the new id when given an old one.
pub const RENAMED: &[(&str, &str)] = &[("04_raw_import_records", RAW_IMPORT_RECORDS)];

/// The current id of a former id or number (`04_raw_import_records`, `04`, `4`). Only for
/// names no current stage answers to.
pub fn renamed(name: &str) -> Option<&'static str> {
    let number = |id: &str| id.split_once('_').and_then(|(n, _)| n.parse::<u32>().ok());
    let wanted = name.parse::<u32>().ok();
    RENAMED
        .iter()
        .find(|(old, _)| {
            old.eq_ignore_ascii_case(name) || (wanted.is_some() && number(old) == wanted)
        })
        .map(|(_, new)| *new)
}

/// Every id the ledger may hold rows of `id` under: `id` itself and its former ids.
pub fn ledger_names(id: &str) -> Vec<&str> {
    std::iter::once(id)
        .chain(
            RENAMED
                .iter()
                .filter(|(_, new)| *new == id)
                .map(|(old, _)| *old),
        )
        .collect()
}
