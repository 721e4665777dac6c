# Everyday commands. Settings come from .env (copied from .env.example on
# first use); flags and environment variables override it.
CARGO ?= cargo
MIGRATE = $(CARGO) run --quiet --release -p migrate-bin --
SEED = $(CARGO) run --quiet --release -p seed-bin --

.PHONY: db-up migrate db-status db-history db-verify seed seed-reset seed-verify test lint bench-migrate

.env:
	cp .env.example .env

## db-up: create the dev database if missing, migrate it and seed the demo dataset
db-up: .env
	$(MIGRATE) setup
	$(SEED) --stage all

## migrate: apply pending migrations
migrate: .env
	$(MIGRATE) up

## db-status: applied and pending migrations
db-status: .env
	$(MIGRATE) status

## db-history: the audit log of migration runs
db-history: .env
	$(MIGRATE) history

## db-verify: checksums and drift
db-verify: .env
	$(MIGRATE) verify

## seed: run every seed stage (unchanged stages are skipped)
seed: .env
	$(SEED) --stage all

## seed-reset: empty the domain tables and reseed
seed-reset: .env
	$(SEED) reset

## seed-verify: check the data against the catalogue
seed-verify: .env
	$(SEED) verify

## test: the whole test suite (needs a PostgreSQL, see README)
test:
	$(CARGO) test

## lint: formatting and clippy, as CI runs them
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## bench-migrate: migrate up vs diesel migration run, migrate status
bench-migrate:
	bash bench/migrate.sh
