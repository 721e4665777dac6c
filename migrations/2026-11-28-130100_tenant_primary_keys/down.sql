-- Back to single-column keys; the indexes the earlier migrations built are
-- recreated under their build names so those migrations' down.sql find them.
-- This rebuilds the indexes under an ACCESS EXCLUSIVE lock: a revert is meant
-- for development, not for a busy production table. Restoring the global
-- unique key_prefix fails if two tenants' keys share a prefix by then.

ALTER TABLE api_keys
    DROP CONSTRAINT api_keys_client_account_id_key_prefix_key,
    ADD CONSTRAINT api_keys_key_prefix_key UNIQUE (key_prefix);
CREATE UNIQUE INDEX api_keys_tenant_key_prefix_key ON api_keys (client_account_id, key_prefix);

ALTER TABLE wave_assets DROP CONSTRAINT wave_assets_pkey, ADD CONSTRAINT wave_assets_pkey PRIMARY KEY (id);
CREATE UNIQUE INDEX wave_assets_tenant_pkey ON wave_assets (client_account_id, id);

ALTER TABLE migration_waves DROP CONSTRAINT migration_waves_pkey, ADD CONSTRAINT migration_waves_pkey PRIMARY KEY (id);
CREATE UNIQUE INDEX migration_waves_tenant_pkey ON migration_waves (client_account_id, id);

ALTER TABLE assessments DROP CONSTRAINT assessments_pkey, ADD CONSTRAINT assessments_pkey PRIMARY KEY (id);
CREATE UNIQUE INDEX assessments_tenant_pkey ON assessments (client_account_id, id);

ALTER TABLE asset_dependencies DROP CONSTRAINT asset_dependencies_pkey, ADD CONSTRAINT asset_dependencies_pkey PRIMARY KEY (id);
CREATE UNIQUE INDEX asset_dependencies_tenant_pkey ON asset_dependencies (client_account_id, id);

ALTER TABLE asset_tags DROP CONSTRAINT asset_tags_pkey, ADD CONSTRAINT asset_tags_pkey PRIMARY KEY (id);
CREATE UNIQUE INDEX asset_tags_tenant_pkey ON asset_tags (client_account_id, id);

ALTER TABLE assets DROP CONSTRAINT assets_pkey, ADD CONSTRAINT assets_pkey PRIMARY KEY (id);
CREATE UNIQUE INDEX assets_tenant_pkey ON assets (client_account_id, id);

ALTER TABLE import_field_mappings DROP CONSTRAINT import_field_mappings_pkey, ADD CONSTRAINT import_field_mappings_pkey PRIMARY KEY (id);
CREATE UNIQUE INDEX import_field_mappings_tenant_pkey ON import_field_mappings (client_account_id, id);

ALTER TABLE raw_import_records DROP CONSTRAINT raw_import_records_pkey, ADD CONSTRAINT raw_import_records_pkey PRIMARY KEY (id);
CREATE UNIQUE INDEX raw_import_records_tenant_pkey ON raw_import_records (client_account_id, id);

ALTER TABLE data_imports DROP CONSTRAINT data_imports_pkey, ADD CONSTRAINT data_imports_pkey PRIMARY KEY (id);
CREATE UNIQUE INDEX data_imports_tenant_pkey ON data_imports (client_account_id, id);

ALTER TABLE discovery_flows DROP CONSTRAINT discovery_flows_pkey, ADD CONSTRAINT discovery_flows_pkey PRIMARY KEY (id);
CREATE UNIQUE INDEX discovery_flows_tenant_pkey ON discovery_flows (client_account_id, id);

ALTER TABLE tags DROP CONSTRAINT tags_pkey, ADD CONSTRAINT tags_pkey PRIMARY KEY (id);
CREATE UNIQUE INDEX tags_tenant_pkey ON tags (client_account_id, id);

ALTER TABLE api_keys DROP CONSTRAINT api_keys_pkey, ADD CONSTRAINT api_keys_pkey PRIMARY KEY (id);
CREATE UNIQUE INDEX api_keys_tenant_pkey ON api_keys (client_account_id, id);

ALTER TABLE user_account_roles DROP CONSTRAINT user_account_roles_pkey, ADD CONSTRAINT user_account_roles_pkey PRIMARY KEY (id);
CREATE UNIQUE INDEX user_account_roles_tenant_pkey ON user_account_roles (client_account_id, id);

ALTER TABLE engagements DROP CONSTRAINT engagements_pkey, ADD CONSTRAINT engagements_pkey PRIMARY KEY (id);
CREATE UNIQUE INDEX engagements_tenant_pkey ON engagements (client_account_id, id);
