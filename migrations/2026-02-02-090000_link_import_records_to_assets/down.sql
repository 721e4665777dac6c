DROP INDEX raw_import_records_asset_idx;
ALTER TABLE raw_import_records
    DROP CONSTRAINT raw_import_records_asset_requires_valid,
    DROP CONSTRAINT raw_import_records_asset_fkey;
ALTER TABLE raw_import_records DROP COLUMN asset_id;
