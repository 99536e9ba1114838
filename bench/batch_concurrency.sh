#!/usr/bin/env bash
# The batch alone at several concurrencies, single spread sales beside each: a fresh
# PostgreSQL database and gunicorn as configured (bench/server.sh), the throughput
# bench's company and 1,000-sale batch over 200 products (bench/throughput_setup.py),
# then wrk. Prints requests/s, p50 and p99 per run: whether batches over the same rows
# queue fairly (app.locks.batch_locks) shows in the p99 at 4 and 8 connections.
#   bash bench/batch_concurrency.sh [seconds] [connections...]   # default 5 s; 2 4 8
# Environment: STOCKFLOW_VENV (default .venv), BENCH_PORT, GUNICORN_WORKERS/THREADS.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-5}
shift || true
batch_connections=("${@:-2 4 8}")
venv=${STOCKFLOW_VENV:-.venv}
command -v wrk >/dev/null || { echo "needs wrk: apt-get install -y wrk" >&2; exit 1; }
# shellcheck source=bench/server.sh
. bench/server.sh
bench_server bc
"$venv/bin/python" bench/throughput_setup.py --url "$base" --admin-token "$STOCKFLOW_ADMIN_TOKEN" \
    --out "$work" >/dev/null
set -a
# shellcheck disable=SC1091
. "$work/env"
set +a
declare -A rps  # run_wrk's figures (bench/server.sh)
connections=16  # the single sales'
# shellcheck disable=SC2068
for c in ${batch_connections[@]}; do
    WRK_CONNECTIONS=$c WRK_TIMEOUT=20s run_wrk "batch_${c}_connections" /api/stock/batch \
        post_json.lua "$work/batch.json"
    run_wrk spread_sales_16_connections /api/stock/sales sell_spread.lua
done
