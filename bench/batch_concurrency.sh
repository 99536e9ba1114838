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
connections=("${@:-2 4 8}")
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
# run NAME CONNECTIONS PATH LUA [BODY_FILE]
run() {
    local out
    out=$(BODY_FILE=${5:-/dev/null} RUN_TAG="$1$$" wrk -t2 -c "$2" -d "${seconds}s" --timeout 20s \
        --latency -s "bench/wrk/$4" "$base$3")
    if grep -q 'Non-2xx' <<<"$out"; then
        echo "$out" >&2
        echo "$1: responses other than 2xx (see above)" >&2
        exit 1
    fi
    printf '  %-26s %8.1f req/s   p50 %-9s p99 %s\n' "$1" \
        "$(sed -n 's/^Requests\/sec: *\([0-9.]*\)/\1/p' <<<"$out")" \
        "$(awk '$1 == "50%" {print $2}' <<<"$out")" "$(awk '$1 == "99%" {print $2}' <<<"$out")"
}
# shellcheck disable=SC2068
for c in ${connections[@]}; do
    run "batch, $c connections" "$c" /api/stock/batch post_json.lua "$work/batch.json"
    run "spread sales, 16" 16 /api/stock/sales sell_spread.lua
done
