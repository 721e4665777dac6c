DROP INDEX CONCURRENTLY IF EXISTS data_imports_tenant_pkey;
