-- Traceability: a valid raw import row records which asset it became (several
-- rows may merge into one asset when sources overlap).

ALTER TABLE raw_import_records ADD COLUMN asset_id uuid;

ALTER TABLE raw_import_records
    ADD CONSTRAINT raw_import_records_asset_fkey FOREIGN KEY (client_account_id, asset_id)
        REFERENCES assets (client_account_id, id) ON DELETE SET NULL (asset_id),
    -- only rows that passed validation can have produced an asset
    ADD CONSTRAINT raw_import_records_asset_requires_valid CHECK (asset_id IS NULL OR is_valid);

-- "which source rows produced this asset"
CREATE INDEX raw_import_records_asset_idx ON raw_import_records (client_account_id, asset_id)
    WHERE asset_id IS NOT NULL;
