-- A presented API key carries only its prefix, not its tenant, so the lookup
-- by prefix keeps an index of its own once the global unique constraint on
-- key_prefix goes (2026-11-28-130100_tenant_primary_keys). Not unique: two
-- tenants' keys may share a prefix, and the application checks the hash of
-- each row found. CONCURRENTLY, so outside a transaction (metadata.toml); a
-- failed build leaves an INVALID index: drop it concurrently and rerun.
CREATE INDEX CONCURRENTLY IF NOT EXISTS api_keys_key_prefix_idx ON api_keys (key_prefix);
