DROP INDEX CONCURRENTLY IF EXISTS user_account_roles_tenant_pkey;
