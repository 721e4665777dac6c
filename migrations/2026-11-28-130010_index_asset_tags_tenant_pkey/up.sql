-- The future primary key of asset_tags, (client_account_id, id), built without
-- blocking writes (CONCURRENTLY, so outside a transaction: see metadata.toml);
-- 2026-11-28-130100_tenant_primary_keys makes it the primary key. IF NOT EXISTS
-- makes a rerun after a crash safe; a failed build leaves an INVALID index that
-- `migrate verify` reports: drop it (DROP INDEX CONCURRENTLY) and rerun.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS asset_tags_tenant_pkey ON asset_tags (client_account_id, id);
