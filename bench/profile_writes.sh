#!/usr/bin/env bash
# Where a single write's time goes: gunicorn as configured (access log off) on a fresh
# PostgreSQL database, wrk driving one request kind, py-spy sampling every worker.
#   bash bench/profile_writes.sh [sale_hot|sale_spread|create_product|health] [seconds]
# Prints the functions with the most samples (own time, and time under them) and keeps
# py-spy's collapsed stacks in $PROFILE_OUT (default /tmp/stockflow-profile.txt).
# Needs wrk and py-spy (requirements-dev.txt); STOCKFLOW_VENV as bench/throughput.sh.
# PYSPY=0: no sampling, print the CPU seconds spent by gunicorn, postgres and wrk instead;
# PYSPY_ARGS="--gil": sample only the thread holding the GIL (Python's own CPU time).
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-sale_hot}
seconds=${2:-15}
venv=${STOCKFLOW_VENV:-.venv}
out=${PROFILE_OUT:-/tmp/stockflow-profile.txt}
# shellcheck source=bench/server.sh
. bench/server.sh
bench_server prof
"$venv/bin/python" bench/throughput_setup.py --url "$base" --admin-token "$STOCKFLOW_ADMIN_TOKEN" \
    --out "$work" --import-rows 0
set -a
# shellcheck disable=SC1091
. "$work/env"
set +a
case $kind in
    health) path=/health lua=get.lua ;;
    create_product) path=/api/products lua=create_product.lua ;;
    sale_hot) path=/api/stock/sales lua=post_json.lua ;;
    sale_spread) path=/api/stock/sales lua=sell_spread.lua ;;
    *) echo "unknown kind $kind" >&2; exit 2 ;;
esac
if [ "${PYSPY:-1}" = 0 ]; then
    # no sampler: where the CPU goes, by process kind (other jobs on the machine count too)
    "$venv/bin/python" bench/cpu_by_process.py snap "$work/cpu.json"
    BODY_FILE="$work/sale.json" RUN_TAG="prof$$" wrk -t2 -c 16 -d "${seconds}s" \
        -s "bench/wrk/$lua" "$base$path" | grep -E 'Requests/sec|Non-2xx' || true
    "$venv/bin/python" bench/cpu_by_process.py diff "$work/cpu.json"
    exit 0
fi
"$venv/bin/py-spy" record --subprocesses --pid "$server" --rate 250 --format raw \
    --output "$out" --duration "$seconds" --nonblocking ${PYSPY_ARGS:-} >"$work/py-spy.log" 2>&1 &
spy=$!
sleep 1
BODY_FILE="$work/sale.json" RUN_TAG="prof$$" wrk -t2 -c 16 -d "$((seconds - 2))s" \
    -s "bench/wrk/$lua" "$base$path" | grep -E 'Requests/sec|Non-2xx' || true
wait "$spy" || { cat "$work/py-spy.log" >&2; exit 1; }
"$venv/bin/python" - "$out" <<'EOF'
import collections, sys

own, under, total = collections.Counter(), collections.Counter(), 0
for line in open(sys.argv[1]):
    stack, _, count = line.rstrip("\n").rpartition(" ")
    frames = stack.split(";")
    # request threads only: the arbiter and the worker's main loop wait on sockets
    if not any("handle_request" in f for f in frames):
        continue
    count = int(count)
    total += count
    own[frames[-1]] += count
    for frame in set(frames):
        under[frame] += count
print(f"{total} samples in request threads")
print("-- own time")
for frame, n in own.most_common(25):
    print(f"{100 * n / total:5.1f} %  {frame}")
print("-- time under (inclusive)")
for frame, n in under.most_common(60):
    print(f"{100 * n / total:5.1f} %  {frame}")
EOF
