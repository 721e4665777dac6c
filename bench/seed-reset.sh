#!/usr/bin/env bash
# `seed reset` from a snapshot (take the snapshot's spare copy made ahead, else clone the
# template under a temporary name, FILE_COPY from 16 MB; swap it in for the database in one
# transaction; then a new API key in one transaction and the main tenant's sample files; no
# stage reruns; the old database's drop and the next spare are left to a detached child the
# run does not wait for) against `seed reset --in-place` (TRUNCATE, then every stage),
# alternating the two on the same database so machine noise hits both alike. The child of
# the first seed (which keeps the snapshot) and of each reset runs while the next command
# does. Prints each run (`(spare)` when the reset took the spare), the medians and the ratio
# snapshot/in-place. SEED_SNAPSHOT_SPARE=off measures resets without spares.
#
#   bash bench/seed-reset.sh [SCALES="1 1000"] [RUNS=3]     (SEED_BIN=path: another seed binary)
#
# Server: BENCH_SERVER_URL (default postgres://postgres@127.0.0.1:5432); the database
# gw_bench_reset is dropped and recreated, and the snapshots of the benchmark's inputs
# (`--rng-seed 4242`) are dropped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
SCALES="${1:-1 1000}"
RUNS="${2:-3}"
SERVER="${BENCH_SERVER_URL:-postgres://postgres@127.0.0.1:5432}"
DB=gw_bench_reset
# SEED_BIN: another seed binary (e.g. a debug build); by default the release build.
if [ -z "${SEED_BIN:-}" ]; then cargo build -q --release -p seed-bin; fi
SEED="$(realpath "${SEED_BIN:-target/release/seed}")"
WORK="$(mktemp -d)"
cleanup() {
  for n in $(psql -qAt "$SERVER/postgres" -c "SELECT datname FROM pg_database WHERE shobj_description(oid, 'pg_database') LIKE '%\"rng_seed\":4242,%'"); do
    "$SEED" snapshot drop "$n" >/dev/null 2>&1 || true
  done
  psql -q "$SERVER/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
export APP_ENV=dev DATABASE_URL="$SERVER/$DB" SEED_RNG_SEED=4242 SEED_SNAPSHOTS=auto
cd "$WORK" # no developer .env in the way

timed() { # timed ARGS... -> seconds
  /usr/bin/time -f "%e" -o "$WORK/t" "$SEED" "$@" >"$WORK/out" 2>&1 || { cat "$WORK/out" >&2; exit 1; }
  cat "$WORK/t"
}
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }

for SCALE in $SCALES; do
  psql -q "$SERVER/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" 2>/dev/null
  # Into an empty database: seeds every stage and keeps the snapshot.
  first=$(timed --stage all --scale "$SCALE")
  grep -q "kept snapshot" "$WORK/out" || { echo "no snapshot was kept:" >&2; cat "$WORK/out" >&2; exit 1; }
  echo "scale $SCALE: first seed (keeps the snapshot): ${first}s"
  : >"$WORK/snap"; : >"$WORK/inplace"
  for i in $(seq "$RUNS"); do
    s=$(timed reset --scale "$SCALE" --yes)
    grep -q "from snapshot" "$WORK/out" || { echo "reset did not restore:" >&2; cat "$WORK/out" >&2; exit 1; }
    spare=""; if grep -q "(a spare copy made ahead)" "$WORK/out"; then spare=" (spare)"; fi
    p=$(timed reset --in-place --scale "$SCALE")
    echo "  run $i: reset from snapshot ${s}s${spare}, reset --in-place ${p}s"
    echo "$s" >>"$WORK/snap"; echo "$p" >>"$WORK/inplace"
  done
  ms=$(median <"$WORK/snap"); mp=$(median <"$WORK/inplace")
  echo "scale $SCALE: median reset from snapshot ${ms}s, reset --in-place ${mp}s, ratio $(awk -v a="$ms" -v b="$mp" 'BEGIN {printf "%.2f", a/b}')"
done
