DROP INDEX CONCURRENTLY IF EXISTS api_keys_tenant_key_prefix_key;
