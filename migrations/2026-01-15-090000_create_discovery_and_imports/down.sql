DROP TABLE import_field_mappings;
DROP TABLE raw_import_records;
DROP TABLE data_imports;
DROP TABLE discovery_flows;
DROP TYPE mapping_status;
DROP TYPE import_status;
DROP TYPE flow_status;
