# Everyday commands. Settings come from .env (copied from .env.example on
# first use); flags and environment variables override it.
CARGO ?= cargo
# Both binaries are built in one cargo invocation so their dependencies are
# compiled once with the same features.
MIGRATE = target/release/migrate
SEED = target/release/seed
BUILD = $(CARGO) build --quiet --release -p migrate-bin -p seed-bin

.PHONY: bins db-up migrate db-status db-history db-verify seed seed-reset seed-verify test lint bench-migrate

# install, not cp: .env holds secrets (a password, the test agent key), so it is created 0600.
.env:
	install -m 600 .env.example .env

bins:
	$(BUILD)

## db-up: create the dev database if missing, migrate it and seed the demo dataset
db-up: .env bins
	$(MIGRATE) setup
	$(SEED) --stage all --write-env

## migrate: apply pending migrations
migrate: .env bins
	$(MIGRATE) up

## db-status: applied and pending migrations
db-status: .env bins
	$(MIGRATE) status

## db-history: the audit log of migration runs
db-history: .env bins
	$(MIGRATE) history

## db-verify: checksums and drift
db-verify: .env bins
	$(MIGRATE) verify

## seed: run every seed stage (unchanged stages are skipped)
seed: .env bins
	$(SEED) --stage all

## seed-reset: restore from the matching snapshot (else empty the domain tables and reseed)
seed-reset: .env bins
	$(SEED) reset

## seed-verify: check the data against the catalogue
seed-verify: .env bins
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
