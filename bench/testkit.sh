#!/usr/bin/env bash
# The test kit under a parallel suite: times a 50-test suite (tests/testdb/tests/bench_suite.rs)
# where every test gets a seeded (scale 1) database, in three shapes, and the latency of getting
# that database per test. Prints one line per shape; docs/performance.md records a run.
#
#   bench/testkit.sh [THREADS=2] [SHAPES="clone clone-nospare schema harness"]
#
# Shapes: `clone` = TestDb::seeded(1) (CREATE DATABASE … TEMPLATE per test, the kit, with its
# spare clone made ahead); `clone-nospare` = the same with GROUNDWORK_TESTDB_SPARES=0;
# `schema` = one shared database, the seeded public schema captured once with pg_dump and
# replayed into a fresh schema per test; `harness` = the harness before the kit (a migrated
# clone, then `seed --stage all` per test). Templates are built by a warm-up test first, so the
# figures are the steady state a developer sees; the cold build is printed separately.
#
# Server: TEST_DATABASE_URL as for the tests (default postgres://postgres@127.0.0.1:5432).
# Needs psql and pg_dump. Debug build, as `cargo test` runs.
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS="${1:-2}"
SHAPES="${2:-clone clone-nospare schema harness}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

cargo build -q --offline -p seed-bin --bin seed
BIN="$(cargo test --offline -p groundwork-testdb --test bench_suite --no-run 2>&1 \
  | grep -o 'target/[^)]*bench_suite-[0-9a-f]*' | tail -1)"
[ -x "$BIN" ] || { echo "bench_suite test binary not found" >&2; exit 1; }
BIN="$PWD/$BIN"
cd "$WORK"

stats() { # stats FILE COLUMN -> "n=… mean=… p50=… p95=… max=… ms"
  cut -d' ' -f"$2" "$1" | sort -n | awk '{a[NR]=$1; s+=$1} END {
    printf "n=%d mean=%.0f p50=%.0f p95=%.0f max=%.0f ms", NR, s/NR, a[int(NR*0.5)+1], a[int(NR*0.95)+1], a[NR] }'
}

# Cold: the first TestDb::seeded(1) of a run whose templates are missing is printed by the
# warm-up only when it had to build them.
start=$(date +%s.%N)
KIT_BENCH_MODE=clone KIT_BENCH_OUT="$WORK/warm.txt" "$BIN" --ignored --exact t01 -q >/dev/null
echo "warm-up: $(awk '{printf "%.0f ms", $1}' "$WORK/warm.txt") for the first TestDb::seeded(1) (includes building the templates if they were missing)"

for shape in $SHAPES; do
  out="$WORK/$shape.txt"
  start=$(date +%s.%N)
  spares=1
  mode="$shape"
  if [ "$shape" = clone-nospare ]; then spares=0; mode=clone; fi
  GROUNDWORK_TESTDB_SPARES=$spares KIT_BENCH_MODE="$mode" KIT_BENCH_OUT="$out" \
    "$BIN" --ignored --test-threads="$THREADS" -q >/dev/null
  end=$(date +%s.%N)
  printf '%-13s 50 tests, %s threads: suite %.1f s\n  get the database: %s\n  drop it:          %s\n' \
    "$shape" "$THREADS" "$(echo "$end - $start" | bc)" "$(stats "$out" 1)" "$(stats "$out" 2)"
done
