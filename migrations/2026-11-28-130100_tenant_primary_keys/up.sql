-- Tenant-distribution readiness: a table distributed by client_account_id (Citus)
-- can only enforce a primary key or unique constraint that contains that column.
-- Every tenant-owned table's primary key becomes (client_account_id, id), and
-- api_keys' prefix becomes unique per tenant (docs/scaling.md).
--
-- The indexes were built CONCURRENTLY by the 2026-11-28-1300xx migrations, so
-- each statement here only swaps catalog entries: ACCESS EXCLUSIVE on the table
-- for milliseconds, no scan (both columns are already NOT NULL) and no rewrite.
-- Dropping the old key in the same statement that adds its replacement means
-- no moment without a key. No foreign key references the single-column keys
-- (tenant foreign keys reference (client_account_id, id)), so none is dropped.

-- migrate:allow ban-drop-constraint reason: the same statement adds the key again, with client_account_id, USING the index built CONCURRENTLY before; no moment without a key
ALTER TABLE engagements
    DROP CONSTRAINT engagements_pkey,
    ADD CONSTRAINT engagements_pkey PRIMARY KEY USING INDEX engagements_tenant_pkey;

-- migrate:allow ban-drop-constraint reason: the same statement adds the key again, with client_account_id, USING the index built CONCURRENTLY before; no moment without a key
ALTER TABLE user_account_roles
    DROP CONSTRAINT user_account_roles_pkey,
    ADD CONSTRAINT user_account_roles_pkey PRIMARY KEY USING INDEX user_account_roles_tenant_pkey;

-- migrate:allow ban-drop-constraint reason: the same statement adds the key again, with client_account_id, USING the index built CONCURRENTLY before; no moment without a key
ALTER TABLE api_keys
    DROP CONSTRAINT api_keys_pkey,
    ADD CONSTRAINT api_keys_pkey PRIMARY KEY USING INDEX api_keys_tenant_pkey;

-- migrate:allow ban-drop-constraint reason: the same statement adds the key again, with client_account_id, USING the index built CONCURRENTLY before; no moment without a key
ALTER TABLE tags
    DROP CONSTRAINT tags_pkey,
    ADD CONSTRAINT tags_pkey PRIMARY KEY USING INDEX tags_tenant_pkey;

-- migrate:allow ban-drop-constraint reason: the same statement adds the key again, with client_account_id, USING the index built CONCURRENTLY before; no moment without a key
ALTER TABLE discovery_flows
    DROP CONSTRAINT discovery_flows_pkey,
    ADD CONSTRAINT discovery_flows_pkey PRIMARY KEY USING INDEX discovery_flows_tenant_pkey;

-- migrate:allow ban-drop-constraint reason: the same statement adds the key again, with client_account_id, USING the index built CONCURRENTLY before; no moment without a key
ALTER TABLE data_imports
    DROP CONSTRAINT data_imports_pkey,
    ADD CONSTRAINT data_imports_pkey PRIMARY KEY USING INDEX data_imports_tenant_pkey;

-- migrate:allow ban-drop-constraint reason: the same statement adds the key again, with client_account_id, USING the index built CONCURRENTLY before; no moment without a key
ALTER TABLE raw_import_records
    DROP CONSTRAINT raw_import_records_pkey,
    ADD CONSTRAINT raw_import_records_pkey PRIMARY KEY USING INDEX raw_import_records_tenant_pkey;

-- migrate:allow ban-drop-constraint reason: the same statement adds the key again, with client_account_id, USING the index built CONCURRENTLY before; no moment without a key
ALTER TABLE import_field_mappings
    DROP CONSTRAINT import_field_mappings_pkey,
    ADD CONSTRAINT import_field_mappings_pkey PRIMARY KEY USING INDEX import_field_mappings_tenant_pkey;

-- migrate:allow ban-drop-constraint reason: the same statement adds the key again, with client_account_id, USING the index built CONCURRENTLY before; no moment without a key
ALTER TABLE assets
    DROP CONSTRAINT assets_pkey,
    ADD CONSTRAINT assets_pkey PRIMARY KEY USING INDEX assets_tenant_pkey;

-- migrate:allow ban-drop-constraint reason: the same statement adds the key again, with client_account_id, USING the index built CONCURRENTLY before; no moment without a key
ALTER TABLE asset_tags
    DROP CONSTRAINT asset_tags_pkey,
    ADD CONSTRAINT asset_tags_pkey PRIMARY KEY USING INDEX asset_tags_tenant_pkey;

-- migrate:allow ban-drop-constraint reason: the same statement adds the key again, with client_account_id, USING the index built CONCURRENTLY before; no moment without a key
ALTER TABLE asset_dependencies
    DROP CONSTRAINT asset_dependencies_pkey,
    ADD CONSTRAINT asset_dependencies_pkey PRIMARY KEY USING INDEX asset_dependencies_tenant_pkey;

-- migrate:allow ban-drop-constraint reason: the same statement adds the key again, with client_account_id, USING the index built CONCURRENTLY before; no moment without a key
ALTER TABLE assessments
    DROP CONSTRAINT assessments_pkey,
    ADD CONSTRAINT assessments_pkey PRIMARY KEY USING INDEX assessments_tenant_pkey;

-- migrate:allow ban-drop-constraint reason: the same statement adds the key again, with client_account_id, USING the index built CONCURRENTLY before; no moment without a key
ALTER TABLE migration_waves
    DROP CONSTRAINT migration_waves_pkey,
    ADD CONSTRAINT migration_waves_pkey PRIMARY KEY USING INDEX migration_waves_tenant_pkey;

-- migrate:allow ban-drop-constraint reason: the same statement adds the key again, with client_account_id, USING the index built CONCURRENTLY before; no moment without a key
ALTER TABLE wave_assets
    DROP CONSTRAINT wave_assets_pkey,
    ADD CONSTRAINT wave_assets_pkey PRIMARY KEY USING INDEX wave_assets_tenant_pkey;

-- migrate:allow ban-drop-constraint reason: the same statement adds the key again, with client_account_id, USING the index built CONCURRENTLY before; no moment without a key
ALTER TABLE api_keys
    DROP CONSTRAINT api_keys_key_prefix_key,
    ADD CONSTRAINT api_keys_client_account_id_key_prefix_key UNIQUE USING INDEX api_keys_tenant_key_prefix_key;
