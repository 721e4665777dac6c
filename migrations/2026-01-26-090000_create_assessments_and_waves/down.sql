DROP TABLE wave_assets;
DROP TABLE migration_waves;
DROP TABLE assessments;
DROP TYPE wave_status;
DROP TYPE assessment_type;
