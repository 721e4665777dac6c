-- A validated key cannot be marked unvalidated again; re-adding it NOT VALID
-- gives back the state 2026-11-28-130200 left.

ALTER TABLE raw_import_records
    DROP CONSTRAINT raw_import_records_asset_fkey,
    ADD CONSTRAINT raw_import_records_asset_fkey FOREIGN KEY (client_account_id, asset_id)
        REFERENCES assets (client_account_id, id) NOT VALID;

ALTER TABLE assets
    DROP CONSTRAINT assets_discovery_flow_fkey,
    ADD CONSTRAINT assets_discovery_flow_fkey FOREIGN KEY (client_account_id, discovery_flow_id)
        REFERENCES discovery_flows (client_account_id, id) NOT VALID;

ALTER TABLE data_imports
    DROP CONSTRAINT data_imports_discovery_flow_fkey,
    ADD CONSTRAINT data_imports_discovery_flow_fkey FOREIGN KEY (client_account_id, discovery_flow_id)
        REFERENCES discovery_flows (client_account_id, id) NOT VALID;
