#!/usr/bin/env bash
# Micro-benchmark of the seed's bulk loader (seed-bin/src/bulk): loads ROWS synthetic
# raw_import_records rows into a fresh, fully migrated database by raw COPY, chunked multi-row
# INSERT, and the bulk path (staging COPY + merge) with 1 and STREAMS streams, then reruns the
# bulk path unchanged. Prints seconds, rows/s and the ratio to raw COPY.
#
#   bench/bulk.sh [ROWS=500000] [STREAMS=cpus] [REPEAT=1]   (REPEAT: runs per method, fastest shown)
#
# Server: BENCH_SERVER_URL (default postgres://postgres@127.0.0.1:5432). The database
# groundwork_bench_bulk is dropped and recreated.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${1:-500000}"
STREAMS="${2:-0}"
REPEAT="${3:-1}"
SERVER="${BENCH_SERVER_URL:-postgres://postgres@127.0.0.1:5432}"
DB=groundwork_bench_bulk
psql -q "$SERVER/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
cargo build -q --release -p seed-bin --features bench --example bulk_bench
target/release/examples/bulk_bench "$SERVER/$DB" "$ROWS" "$STREAMS" "$REPEAT"
psql -q "$SERVER/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
