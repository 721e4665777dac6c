DROP INDEX CONCURRENTLY IF EXISTS wave_assets_tenant_pkey;
