#!/usr/bin/env bash
# Benchmark: overhead of the production flow (stamp, lock, verify, plan,
# backup guard, audit) over a plain `migrate up`, excluding pg_dump's own
# time, and pg_dump's time on a database.
#
#   bash bench/prod-overhead.sh [RUNS] [SEEDED_DB_URL]
#
# Each run migrates a fresh database twice: `--env dev up` and
# `--env prod --require-backup --yes up`; the backup step's time (printed by
# migrate) is subtracted. SEEDED_DB_URL (default: the dev database of
# `make db-up`) is dumped with `pg_dump --format=custom` to time a backup of
# a seeded database.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-10}
SEEDED=${2:-postgres://postgres@127.0.0.1:5432/groundwork_dev}
SERVER=${BENCH_SERVER_URL:-postgres://postgres@127.0.0.1:5432}
DB=groundwork_bench_prod
BACKUPS=$(mktemp -d)
trap 'rm -rf "$BACKUPS"' EXIT

cargo build --release -q -p migrate-bin
MIGRATE=target/release/migrate
now_ms() { date +%s%N | awk '{printf "%.3f", $1/1000000}'; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
fresh_db() { psql -q "$SERVER/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null 2>&1; }

: >/tmp/gw_plain; : >/tmp/gw_prod; : >/tmp/gw_dump
for _ in $(seq "$RUNS"); do
  fresh_db
  t0=$(now_ms); DATABASE_URL="$SERVER/$DB" $MIGRATE --env dev up >/dev/null; t1=$(now_ms)
  awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f\n", b-a}' >>/tmp/gw_plain
  fresh_db
  t0=$(now_ms)
  out=$(DATABASE_URL="$SERVER/$DB" $MIGRATE --env prod --require-backup --yes --backup-dir "$BACKUPS" up 2>&1)
  t1=$(now_ms)
  backup_ms=$(printf '%s\n' "$out" | sed -n 's/.*Backup written and verified.* in \([0-9]*\) ms.*/\1/p')
  awk -v a="$t0" -v b="$t1" -v k="${backup_ms:-0}" 'BEGIN {printf "%.3f\n", b-a-k}' >>/tmp/gw_prod
done
for _ in $(seq "$RUNS"); do
  t0=$(now_ms); pg_dump --format=custom -f "$BACKUPS/seeded.dump" -d "$SEEDED"; t1=$(now_ms)
  awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f\n", b-a}' >>/tmp/gw_dump
done
psql -q "$SERVER/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1

p=$(median </tmp/gw_plain); q=$(median </tmp/gw_prod); d=$(median </tmp/gw_dump)
echo "runs: $RUNS (median wall time, ms)"
echo "plain up (dev)                      $p"
echo "prod flow up, minus backup time     $q"
awk -v p="$p" -v q="$q" 'BEGIN {printf "guard overhead                      %.1f (target < 100)\n", q-p}'
echo "pg_dump -Fc of the seeded database  $d ($(du -h "$BACKUPS/seeded.dump" | cut -f1))"
