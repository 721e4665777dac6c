DROP INDEX CONCURRENTLY IF EXISTS asset_dependencies_tenant_pkey;
