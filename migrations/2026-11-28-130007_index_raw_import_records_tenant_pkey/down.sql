DROP INDEX CONCURRENTLY IF EXISTS raw_import_records_tenant_pkey;
