DROP INDEX CONCURRENTLY IF EXISTS discovery_flows_tenant_pkey;
