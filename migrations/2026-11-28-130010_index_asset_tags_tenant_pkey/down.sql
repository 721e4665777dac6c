DROP INDEX CONCURRENTLY IF EXISTS asset_tags_tenant_pkey;
