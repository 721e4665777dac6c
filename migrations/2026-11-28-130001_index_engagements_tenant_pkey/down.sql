DROP INDEX CONCURRENTLY IF EXISTS engagements_tenant_pkey;
