#!/usr/bin/env bash
# Overhead of `migrate rehearse`'s observation (the 50 ms pg_locks/pg_stat_activity watcher and
# the per-statement catalog reads) over applying the same migrations on the same copy without
# it (`--no-watcher`, a hidden flag that exists for this measurement). Seeds a database at
# SCALE once, then rehearses five pending migrations (a type change and a volatile default that
# rewrite, two index builds, a backfill) REPEAT times each way, alternating, and compares the
# median of the apply phase (`timings.apply_ms`: first statement to COMMIT, per migration;
# copy, revert and re-apply are the same work in both and left out). Goal: ratio < 1.10.
#
#   bench/rehearse.sh [SCALE=200] [REPEAT=5]
#
# Server: BENCH_SERVER_URL (default postgres://postgres@127.0.0.1:5432). The database
# groundwork_bench_rehearse is dropped and recreated. PROFILE=debug uses the debug binaries
# (no release build; the apply phase is the server's work either way).
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE="${1:-200}"
REPEAT="${2:-5}"
SERVER="${BENCH_SERVER_URL:-postgres://postgres@127.0.0.1:5432}"
PROFILE="${PROFILE:-release}"
DB=groundwork_bench_rehearse
if [ "$PROFILE" = release ]; then
  cargo build -q --release -p migrate-bin -p seed-bin
fi
BIN="target/$PROFILE"
MIGRATIONS="$(mktemp -d)"
trap 'rm -rf "$MIGRATIONS"' EXIT

psql -q "$SERVER/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
export DATABASE_URL="$SERVER/$DB"
"$BIN/seed" --env dev --stage all --scale "$SCALE" --quiet >/dev/null
psql -qAt "$DATABASE_URL" -c "SELECT 'assets ' || count(*) FROM assets" \
  -c "SELECT 'raw_import_records ' || count(*) FROM raw_import_records"

cp -r migrations/. "$MIGRATIONS/"
add() { mkdir -p "$MIGRATIONS/$1"; printf '%s\n' "$2" >"$MIGRATIONS/$1/up.sql"; printf '%s\n' "$3" >"$MIGRATIONS/$1/down.sql"; }
add 2099-01-01-000001_bench_widen_cpu \
  "ALTER TABLE assets ALTER COLUMN cpu_cores TYPE bigint;" \
  "ALTER TABLE assets ALTER COLUMN cpu_cores TYPE integer;"
add 2099-01-01-000002_bench_index_hostname \
  "CREATE INDEX bench_assets_hostname_idx ON assets (hostname, name);" \
  "DROP INDEX bench_assets_hostname_idx;"
add 2099-01-01-000003_bench_backfill \
  "ALTER TABLE assets ADD COLUMN bench_label text;
UPDATE assets SET bench_label = lower(name);" \
  "ALTER TABLE assets DROP COLUMN bench_label;"
add 2099-01-01-000004_bench_volatile_default \
  "ALTER TABLE raw_import_records ADD COLUMN bench_token uuid NOT NULL DEFAULT gen_random_uuid();" \
  "ALTER TABLE raw_import_records DROP COLUMN bench_token;"
add 2099-01-01-000005_bench_index_raw \
  "CREATE INDEX bench_raw_import_records_idx ON raw_import_records (client_account_id, created_at);" \
  "DROP INDEX bench_raw_import_records_idx;"

apply_ms() {
  "$BIN/migrate" --migrations-dir "$MIGRATIONS" --json rehearse --from-db "$DB" "$@" |
    python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["timings"]["apply_ms"], r["samples"])'
}

watched=(); plain=()
for i in $(seq "$REPEAT"); do
  read -r w samples < <(apply_ms)
  read -r p _ < <(apply_ms --no-watcher)
  echo "run $i: watched ${w} ms (${samples} samples), without watcher ${p} ms"
  watched+=("$w"); plain+=("$p")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mw=$(median "${watched[@]}"); mp=$(median "${plain[@]}")
python3 -c "print(f'median apply: watched {$mw} ms, without watcher {$mp} ms, ratio {$mw/$mp:.3f} (goal < 1.10)')"
psql -q "$SERVER/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
