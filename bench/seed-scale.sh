#!/usr/bin/env bash
# Seed at scale: times `seed --stage all --scale N` (release build) on fresh, migrated databases
# and compares it with loading the same rows by other means. Prints one line per measurement;
# docs/performance.md records a run and explains the figures.
#
#   bench/seed-scale.sh [LARGE=1000] [SMALL=10] [MID=100]
#
# For LARGE and SMALL: seed wall time and total rows, then `pg_restore --data-only` of a dump of
# the seeded database into a freshly migrated database (same indexes, constraints and triggers),
# and the ratio seed / pg_restore; then, for reference, the same restore with
# `--disable-triggers` (no foreign-key checks at all; needs a superuser). For SMALL also the
# naive approach: one INSERT per row in one transaction (psql replaying
# `pg_dump --data-only --inserts` with --single-transaction).
# Peak RSS (`/usr/bin/time -v`) of the fresh seed at MID and LARGE. At LARGE also an unchanged
# rerun (ledger skip) and a `--force` rerun.
#
# Server: BENCH_SERVER_URL (default postgres://postgres@127.0.0.1:5432). Databases named
# gw_bench_scale_* are dropped and recreated. Needs pg_dump, pg_restore, psql, /usr/bin/time.
set -euo pipefail
cd "$(dirname "$0")/.."
LARGE="${1:-1000}"
SMALL="${2:-10}"
MID="${3:-100}"
SERVER="${BENCH_SERVER_URL:-postgres://postgres@127.0.0.1:5432}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

cargo build -q --release -p seed-bin -p migrate-bin
SEED="$PWD/target/release/seed"
MIGRATE="$PWD/target/release/migrate"
export APP_ENV=dev
# No developer .env in the way: run everything from an empty folder.
cd "$WORK"

fresh() { # fresh migrated database $1
  psql -q "$SERVER/postgres" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" 2>/dev/null
  DATABASE_URL="$SERVER/$1" "$MIGRATE" --env dev up >/dev/null
}
drop() { psql -q "$SERVER/postgres" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" 2>/dev/null; }
timed() { # timed LABEL CMD... -> prints "LABEL: S s, RSS KB"; keeps the seconds in $SECS
  local out="$WORK/time.txt"
  /usr/bin/time -f "%e %M" -o "$out" "${@:2}" >"$WORK/out.txt" 2>&1 || { cat "$WORK/out.txt"; exit 1; }
  read -r SECS RSS <"$out"
  printf '%-48s %8.2f s   peak RSS %7d KB\n' "$1" "$SECS" "$RSS"
}
rows() { # total rows of the domain tables of database $1
  psql -qAt "$SERVER/$1" -c "SELECT sum(n)::bigint FROM (SELECT (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM public.%I', tablename), false, true, '')))[1]::text::bigint AS n FROM pg_tables WHERE schemaname = 'public' AND tablename <> '__diesel_schema_migrations') s"
}
seed() { # seed DB N [flags]: the command line, for `timed`
  echo "$SEED" --database-url "$SERVER/$1" --quiet --stage all --scale "${@:2}"
}

compare() { # compare N: seed vs pg_restore (and naive when asked)
  local n="$1" naive="${2:-}" db="gw_bench_scale_$1" re="gw_bench_scale_$1_restore"
  fresh "$db"
  timed "seed --stage all --scale $n" $(seed "$db" "$n")
  local seed_secs="$SECS"
  echo "  rows in the domain tables: $(rows "$db")"
  pg_dump --format=custom --data-only --schema=public --exclude-table=__diesel_schema_migrations \
    --file "$WORK/$db.dump" "$SERVER/$db"
  fresh "$re"
  timed "pg_restore --data-only (scale $n)" pg_restore --data-only --single-transaction \
    --dbname "$SERVER/$re" "$WORK/$db.dump"
  echo "  ratio seed / pg_restore: $(echo "scale=2; $seed_secs / $SECS" | bc)"
  # For reference: pg_restore with the foreign-key triggers off checks no reference at all,
  # while seed's fresh loads check each constraint once (write/bulk/foreign_keys.rs).
  fresh "$re"
  timed "pg_restore --data-only --disable-triggers" pg_restore --data-only --single-transaction \
    --disable-triggers --dbname "$SERVER/$re" "$WORK/$db.dump"
  echo "  ratio seed / pg_restore --disable-triggers: $(echo "scale=2; $seed_secs / $SECS" | bc)"
  if [ -n "$naive" ]; then
    pg_dump --data-only --inserts --schema=public --exclude-table=__diesel_schema_migrations \
      --file "$WORK/$db.sql" "$SERVER/$db"
    fresh "$re"
    timed "naive: one INSERT per row, one transaction" psql -q -X -v ON_ERROR_STOP=1 \
      --single-transaction -f "$WORK/$db.sql" "$SERVER/$re"
    echo "  ratio naive / seed: $(echo "scale=2; $SECS / $seed_secs" | bc)"
  fi
  drop "$re"
}

echo "== small scale ($SMALL)"
compare "$SMALL" naive
drop "gw_bench_scale_$SMALL"
echo "== peak RSS at scale $MID"
fresh "gw_bench_scale_$MID"
timed "seed --stage all --scale $MID" $(seed "gw_bench_scale_$MID" "$MID")
drop "gw_bench_scale_$MID"
echo "== large scale ($LARGE)"
compare "$LARGE"
timed "unchanged rerun --scale $LARGE" $(seed "gw_bench_scale_$LARGE" "$LARGE")
timed "--force rerun --scale $LARGE" $(seed "gw_bench_scale_$LARGE" "$LARGE" --force)
drop "gw_bench_scale_$LARGE"
