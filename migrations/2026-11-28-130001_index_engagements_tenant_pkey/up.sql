-- The future primary key of engagements, (client_account_id, id), built without
-- blocking writes (CONCURRENTLY, so outside a transaction: see metadata.toml);
-- 2026-11-28-130100_tenant_primary_keys makes it the primary key. IF NOT EXISTS
-- makes a rerun after a crash safe; a failed build leaves an INVALID index that
-- `migrate verify` reports: drop it (DROP INDEX CONCURRENTLY) and rerun.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS engagements_tenant_pkey ON engagements (client_account_id, id);
