#!/usr/bin/env bash
# Benchmark: apply the full migration set to a fresh database with
# `migrate up` and with `diesel migration run`, and time `migrate status`.
#
#   bash bench/migrate.sh [RUNS] [DIR]    (default 10 runs each; release build)
#
# DIR is the migrations folder (default: the project's migrations/). `large` generates a
# folder of 300 real-world-shaped migrations with bench/gen-migrations.py and uses it:
#
#   bash bench/migrate.sh 5 large
#
# Needs a PostgreSQL at $BENCH_SERVER_URL (default the local trust server)
# and diesel_cli on PATH. Prints the median of each and the ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
RUNS=${1:-10}
DIR=${2:-migrations}
if [ "$DIR" = large ]; then
  DIR=$(mktemp -d)/migrations
  python3 bench/gen-migrations.py "$DIR" 300
fi
# The embedded set for the project's folder (what ops run); --migrations-dir otherwise.
if [ "$DIR" = migrations ]; then FROM=(); else FROM=(--migrations-dir "$DIR"); fi
SERVER=${BENCH_SERVER_URL:-postgres://postgres@127.0.0.1:5432}
DB=groundwork_bench_migrate

[ -n "${MIGRATE_BIN:-}" ] || cargo build --release -q -p migrate-bin
MIGRATE=${MIGRATE_BIN:-target/release/migrate}
# The repo's diesel.toml makes `diesel migration run` also regenerate
# schema.rs (print-schema); an empty config times the migrations alone.
DIESEL_CONFIG=$(mktemp)
trap 'rm -f "$DIESEL_CONFIG"' EXIT

now_ms() { date +%s%N | awk '{printf "%.3f", $1/1000000}'; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
fresh_db() { psql -q "$SERVER/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null; }

time_cmd() { # label, command...
  # A failed run would time an error path: stop and show it instead.
  local t0 t1; t0=$(now_ms); "$@" >/dev/null 2>/tmp/gw_bench_err || { cat /tmp/gw_bench_err >&2; exit 1; }; t1=$(now_ms)
  awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f\n", b-a}'
}

: >/tmp/gw_bench_migrate; : >/tmp/gw_bench_diesel; : >/tmp/gw_bench_status
for _ in $(seq "$RUNS"); do
  fresh_db; time_cmd env DATABASE_URL="$SERVER/$DB" $MIGRATE --env dev "${FROM[@]}" up >>/tmp/gw_bench_migrate
  fresh_db; time_cmd diesel migration run --config-file "$DIESEL_CONFIG" --database-url "$SERVER/$DB" --migration-dir "$DIR" >>/tmp/gw_bench_diesel
done
fresh_db; DATABASE_URL="$SERVER/$DB" $MIGRATE --env dev "${FROM[@]}" up >/dev/null
for _ in $(seq "$RUNS"); do
  time_cmd env DATABASE_URL="$SERVER/$DB" $MIGRATE --env dev "${FROM[@]}" status >>/tmp/gw_bench_status
done
psql -q "$SERVER/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null

m=$(median </tmp/gw_bench_migrate); d=$(median </tmp/gw_bench_diesel); s=$(median </tmp/gw_bench_status)
echo "runs: $RUNS, folder: $DIR ($(ls "$DIR" | wc -l) migrations; median wall time, ms)"
echo "migrate up              $m"
echo "diesel migration run    $d"
echo "migrate status          $s"
awk -v m="$m" -v d="$d" 'BEGIN {printf "ratio migrate/diesel    %.2f (target <= 1.00)\n", m/d}'
