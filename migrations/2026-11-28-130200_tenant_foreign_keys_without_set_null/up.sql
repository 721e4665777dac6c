-- Tenant-distribution readiness: Citus refuses ON DELETE SET NULL on a foreign
-- key that contains the distribution column, also in PostgreSQL 15's
-- SET NULL (column) form, so these three keys become NO ACTION. Deleting a
-- discovery flow that assets or imports still point at, or an asset that raw
-- import rows point at, now fails (23503) instead of clearing the reference:
-- the application clears it first, in the same transaction. Deleting a tenant
-- is unchanged (its rows go in the same statement, by cascade).
--
-- NOT VALID: adding the key takes a brief SHARE ROW EXCLUSIVE lock and checks
-- only new writes; the rows already there were checked by the key it replaces
-- (same columns, same parent), and the next migration validates it without
-- blocking writes. Dropping and adding in one statement leaves no unchecked
-- moment.

-- migrate:allow ban-drop-constraint reason: the same statement adds the same key again without SET NULL, so every new write stays checked; the next migration validates it
ALTER TABLE data_imports
    DROP CONSTRAINT data_imports_discovery_flow_fkey,
    ADD CONSTRAINT data_imports_discovery_flow_fkey FOREIGN KEY (client_account_id, discovery_flow_id)
        REFERENCES discovery_flows (client_account_id, id) NOT VALID;

-- migrate:allow ban-drop-constraint reason: the same statement adds the same key again without SET NULL, so every new write stays checked; the next migration validates it
ALTER TABLE assets
    DROP CONSTRAINT assets_discovery_flow_fkey,
    ADD CONSTRAINT assets_discovery_flow_fkey FOREIGN KEY (client_account_id, discovery_flow_id)
        REFERENCES discovery_flows (client_account_id, id) NOT VALID;

-- migrate:allow ban-drop-constraint reason: the same statement adds the same key again without SET NULL, so every new write stays checked; the next migration validates it
ALTER TABLE raw_import_records
    DROP CONSTRAINT raw_import_records_asset_fkey,
    ADD CONSTRAINT raw_import_records_asset_fkey FOREIGN KEY (client_account_id, asset_id)
        REFERENCES assets (client_account_id, id) NOT VALID;
