//! The stages, one module per stage, and the ordered registry.

pub mod expected;
pub mod s00_reference_data;
pub mod s01_core_entities;
pub mod s02_discovery_flows;
pub mod s03_data_imports;
pub mod s05_field_mappings;
pub mod s06_assets;
pub mod s07_dependencies;
pub mod s08_assessments;
pub mod s09_migration_waves;
pub mod s10_raw_import_records;
pub mod stage;

use stage::Stage;

/// Every stage in run order: the only registry; `--stage` ids come from here.
pub static STAGES: &[&dyn Stage] = &[
    &s00_reference_data::ReferenceData,
    &s01_core_entities::CoreEntities,
    &s02_discovery_flows::DiscoveryFlows,
    &s03_data_imports::DataImports,
    &s05_field_mappings::FieldMappings,
    &s06_assets::Assets,
    &s07_dependencies::Dependencies,
    &s08_assessments::Assessments,
    &s09_migration_waves::MigrationWaves,
    &s10_raw_import_records::RawImportRecords,
];

#[cfg(test)]
mod tests {
    use super::STAGES;
    use super::stage::{number, select};

    #[test]
    fn ids_are_sorted_unique_and_prerequisites_form_no_cycle() {
        // Numbers rise in registry order, and every prerequisite has a lower number, so
        // `--jobs 1` runs the stages in number order.
        for w in STAGES.windows(2) {
            assert!(number(w[0].id()) < number(w[1].id()), "{}", w[1].id());
        }
        for s in STAGES {
            for p in s.prerequisites() {
                assert!(number(p) < number(s.id()), "{} needs the later {p}", s.id());
            }
        }
        // Every prerequisite exists, and repeatedly taking the stages whose prerequisites are
        // all taken takes every stage (the runner's schedule never gets stuck).
        let mut done: Vec<&str> = Vec::new();
        while done.len() < STAGES.len() {
            let ready: Vec<&str> = STAGES
                .iter()
                .filter(|s| !done.contains(&s.id()))
                .filter(|s| s.prerequisites().iter().all(|p| done.contains(p)))
                .map(|s| s.id())
                .collect();
            assert!(
                !ready.is_empty(),
                "prerequisite cycle among stages other than {done:?}"
            );
            done.extend(ready);
        }
        for s in STAGES {
            for p in s.prerequisites() {
                assert!(
                    STAGES.iter().any(|x| x.id() == *p),
                    "{}: unknown {p}",
                    s.id()
                );
            }
            assert!(
                !s.tables().is_empty() && s.prerequisites().iter().all(|p| *p != s.id()),
                "{}",
                s.id()
            );
        }
        assert!(
            STAGES
                .iter()
                .filter(|s| s.allowed_in_prod())
                .all(|s| s.id() == "00_reference_data")
        );
    }

    #[test]
    fn stage_selection_accepts_every_spelling() {
        let ids = |spec: &str| {
            select(spec, STAGES)
                .unwrap()
                .iter()
                .map(|s| s.id())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids("all").len(), 10);
        assert_eq!(ids("06_assets"), ["06_assets"]);
        assert_eq!(ids("6"), ["06_assets"]);
        assert_eq!(ids("06"), ["06_assets"]);
        assert_eq!(ids("assets"), ["06_assets"]);
        assert_eq!(
            ids("7,0, assets"),
            ["00_reference_data", "06_assets", "07_dependencies"]
        );
        assert!(select("nope", STAGES).is_err());
        assert_eq!(ids("raw_import_records"), ["10_raw_import_records"]);
        for old in ["4", "04", "04_raw_import_records"] {
            let err = select(old, STAGES)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("10_raw_import_records"), "{err}");
        }
        assert!(select("", STAGES).is_err());
    }
}
