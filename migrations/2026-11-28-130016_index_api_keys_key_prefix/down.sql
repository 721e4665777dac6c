DROP INDEX CONCURRENTLY IF EXISTS api_keys_key_prefix_idx;
