DROP INDEX CONCURRENTLY IF EXISTS migration_waves_tenant_pkey;
