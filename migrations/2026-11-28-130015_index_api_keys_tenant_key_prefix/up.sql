-- api_keys_key_prefix_key makes key_prefix unique across all tenants, which a
-- table distributed by client_account_id cannot enforce; the prefix becomes
-- unique per tenant instead. Built without blocking writes (CONCURRENTLY, so
-- outside a transaction: see metadata.toml); 2026-11-28-130100_tenant_primary_keys
-- turns it into the constraint. A failed build leaves an INVALID index that
-- `migrate verify` reports: drop it (DROP INDEX CONCURRENTLY) and rerun.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS api_keys_tenant_key_prefix_key ON api_keys (client_account_id, key_prefix);
