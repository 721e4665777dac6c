DROP TABLE asset_dependencies;
DROP TABLE asset_tags;
DROP TABLE assets;
DROP TYPE criticality_level;
DROP TYPE asset_type;
