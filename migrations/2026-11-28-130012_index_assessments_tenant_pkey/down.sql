DROP INDEX CONCURRENTLY IF EXISTS assessments_tenant_pkey;
