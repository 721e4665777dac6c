-- Validates the keys 2026-11-28-130200 added NOT VALID. In its own transaction
-- so the scan holds only SHARE UPDATE EXCLUSIVE on each child (reads and
-- writes go on) and ROW SHARE on the parent.

ALTER TABLE data_imports VALIDATE CONSTRAINT data_imports_discovery_flow_fkey;
ALTER TABLE assets VALIDATE CONSTRAINT assets_discovery_flow_fkey;
ALTER TABLE raw_import_records VALIDATE CONSTRAINT raw_import_records_asset_fkey;
