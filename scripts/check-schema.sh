#!/usr/bin/env bash
# Checks that domain/src/schema.rs is exactly what `diesel print-schema`
# produces for a database migrated with ./migrations and the repo's diesel.toml.
#
# It creates a throwaway database, runs the migrations with diesel_cli, prints
# the schema, diffs it against the committed file and drops the database again
# (also on failure). Exit codes: 0 identical, 1 schema.rs is stale, 2 the check
# itself could not run (no diesel/psql, server unreachable, migration failed).
#
# Server: $SCHEMA_CHECK_SERVER_URL, else $TEST_DATABASE_URL, else the local
# default postgres://postgres@127.0.0.1:5432 (any database name in the URL is
# replaced by the scratch database's).
#
# To regenerate schema.rs after changing a migration:  scripts/check-schema.sh --fix
set -euo pipefail

cd "$(dirname "$0")/.."

fix=false
case "${1:-}" in
    --fix) fix=true ;;
    "") ;;
    *) echo "usage: $0 [--fix]" >&2; exit 2 ;;
esac

for tool in diesel psql; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "check-schema: '$tool' is not installed; install it (diesel_cli: cargo install diesel_cli --no-default-features --features postgres) and rerun." >&2
        exit 2
    fi
done

server_url="${SCHEMA_CHECK_SERVER_URL:-${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}}"
# strip a query string and a database path so only scheme://user@host:port remains
server_url="${server_url%%\?*}"
if [[ "$server_url" =~ ^(postgres(ql)?://[^/]+)(/.*)?$ ]]; then
    server_url="${BASH_REMATCH[1]}"
else
    echo "check-schema: the server URL is not a postgres:// URL; set SCHEMA_CHECK_SERVER_URL=postgres://user@host:port" >&2
    exit 2
fi

scratch="check_schema_$$_$(date +%s)"
scratch_url="$server_url/$scratch"
admin_url="$server_url/postgres"
generated="$(mktemp)"
# `diesel migration run` with the repo's diesel.toml would rewrite schema.rs
# itself (print_schema.file), hiding exactly the drift we look for, so the
# migrations run with an empty configuration.
no_print_config="$(mktemp --suffix=.toml)"

cleanup() {
    rm -f "$generated" "$no_print_config"
    psql "$admin_url" -qAtX -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"$scratch\"" >/dev/null 2>&1 || \
        echo "check-schema: could not drop scratch database $scratch; drop it by hand" >&2
}

if ! psql "$admin_url" -qAtX -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$scratch\"" >/dev/null; then
    echo "check-schema: could not create a scratch database on the server (is PostgreSQL running? set SCHEMA_CHECK_SERVER_URL)" >&2
    exit 2
fi
trap cleanup EXIT

if ! DATABASE_URL="$scratch_url" diesel migration run --config-file "$no_print_config" --migration-dir migrations >/dev/null; then
    echo "check-schema: running the migrations on scratch database $scratch failed (see the error above); fix the migration" >&2
    exit 2
fi
if ! DATABASE_URL="$scratch_url" diesel print-schema --config-file diesel.toml >"$generated"; then
    echo "check-schema: diesel print-schema failed (see the error above)" >&2
    exit 2
fi

if $fix; then
    cp "$generated" domain/src/schema.rs
    echo "check-schema: wrote domain/src/schema.rs"
    exit 0
fi

if ! diff -u domain/src/schema.rs "$generated" --label domain/src/schema.rs --label "diesel print-schema"; then
    echo >&2
    echo "check-schema: domain/src/schema.rs differs from what diesel print-schema generates for ./migrations." >&2
    echo "check-schema: run scripts/check-schema.sh --fix (or diesel print-schema against a migrated database) and commit the result." >&2
    exit 1
fi
echo "check-schema: domain/src/schema.rs matches the migrations"
