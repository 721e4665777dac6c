#!/usr/bin/env bash
# Benchmark: `migrate verify --schema` (live schema against the schema the applied migrations
# make in a scratch database) on the project's migrations and on a generated folder of ~300.
#
#   bash bench/verify-schema.sh [RUNS] [N]     (default 5 runs, N = 300; release build)
#
# Each set: a fresh database migrated once, then RUNS timed `verify --schema` runs (each
# creates, fills, compares and drops its own scratch database). Prints the median wall time
# of each and the slowest run. Needs a PostgreSQL at $BENCH_SERVER_URL (default the local
# trust server) whose role may create databases.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
RUNS=${1:-5}
N=${2:-300}
SERVER=${BENCH_SERVER_URL:-postgres://postgres@127.0.0.1:5432}
DB=groundwork_bench_verify_schema
LARGE=$(mktemp -d)
trap 'rm -rf "$LARGE"; psql -q "$SERVER/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
python3 bench/gen-migrations.py "$LARGE/migrations" "$N"

[ -n "${MIGRATE_BIN:-}" ] || cargo build --release -q -p migrate-bin
MIGRATE=${MIGRATE_BIN:-target/release/migrate}

now_ms() { date +%s%N | awk '{printf "%.3f", $1/1000000}'; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }

bench_set() { # label, migrate args...
  local label=$1; shift
  psql -q "$SERVER/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
  DATABASE_URL="$SERVER/$DB" $MIGRATE --env dev "$@" up -q
  : >/tmp/gw_bench_verify_schema
  for _ in $(seq "$RUNS"); do
    local t0 t1
    t0=$(now_ms)
    # A drifted or failed run would time an error path: stop and show it instead.
    DATABASE_URL="$SERVER/$DB" $MIGRATE "$@" verify --schema >/dev/null 2>/tmp/gw_bench_err \
      || { cat /tmp/gw_bench_err >&2; exit 1; }
    t1=$(now_ms)
    awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f\n", b-a}' >>/tmp/gw_bench_verify_schema
  done
  printf "%-42s median %8s ms   max %8s ms\n" "$label" \
    "$(median </tmp/gw_bench_verify_schema)" "$(sort -n /tmp/gw_bench_verify_schema | tail -1)"
}

echo "runs: $RUNS (wall time of the whole command, connect to exit)"
bench_set "project migrations ($(ls migrations | wc -l))"
bench_set "generated folder ($(ls "$LARGE/migrations" | wc -l) migrations)" --migrations-dir "$LARGE/migrations"
leftover=$(psql -At "$SERVER/postgres" -c "SELECT count(*) FROM pg_database WHERE datname LIKE 'groundwork\_scratch\_%' AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = pg_database.datname)")
echo "scratch databases left behind (nobody connected): $leftover"
