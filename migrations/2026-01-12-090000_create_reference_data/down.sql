DROP TABLE technology_catalog;
DROP TABLE sixr_strategies;
DROP TYPE sixr_strategy;
