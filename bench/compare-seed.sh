#!/usr/bin/env bash
# Before/after: times `seed --stage all --scale N` of two seed binaries in one run, alternating
# them on fresh, migrated databases so machine noise hits both alike. Prints each run, the
# medians and the ratio new/old. Used for refactors that must not slow seeding down.
#
#   bash bench/compare-seed.sh OLD_SEED NEW_SEED [SCALE=1000] [RUNS=3]
#
# Build the old binary from the earlier commit first, e.g.
#   git worktree add /tmp/old <commit> && (cd /tmp/old && cargo build --release -p seed-bin)
# Server: BENCH_SERVER_URL (default postgres://postgres@127.0.0.1:5432); the database
# gw_bench_compare is dropped and recreated. The schema comes from NEW's `migrate` (MIGRATE,
# default target/release/migrate), so both seed the same schema.
set -euo pipefail
cd "$(dirname "$0")/.."
OLD="$(realpath "$1")"
NEW="$(realpath "$2")"
SCALE="${3:-1000}"
RUNS="${4:-3}"
SERVER="${BENCH_SERVER_URL:-postgres://postgres@127.0.0.1:5432}"
MIGRATE="$(realpath "${MIGRATE:-target/release/migrate}")"
DB=gw_bench_compare
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"; psql -q "$SERVER/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" 2>/dev/null || true' EXIT
export APP_ENV=dev DATABASE_URL="$SERVER/$DB"
# No developer .env in the way.
cd "$WORK"

fresh() {
  psql -q "$SERVER/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" 2>/dev/null
  "$MIGRATE" --env dev up >/dev/null
}
timed() { # timed BIN -> seconds
  /usr/bin/time -f "%e" -o "$WORK/t" "$1" --stage all --scale "$SCALE" >"$WORK/out" 2>&1 || { cat "$WORK/out" >&2; exit 1; }
  cat "$WORK/t"
}
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }

: >"$WORK/old"; : >"$WORK/new"
for i in $(seq "$RUNS"); do
  fresh; o=$(timed "$OLD"); echo "$o" >>"$WORK/old"
  fresh; n=$(timed "$NEW"); echo "$n" >>"$WORK/new"
  echo "run $i: old $o s, new $n s"
done
mo=$(median <"$WORK/old"); mn=$(median <"$WORK/new")
echo "scale $SCALE, $RUNS runs (median): old $mo s, new $mn s"
awk -v o="$mo" -v n="$mn" 'BEGIN {printf "ratio new/old %.2f (must be <= 1.00 within noise)\n", n/o}'
