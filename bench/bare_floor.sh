#!/usr/bin/env bash
# How far the chosen stack is from issue 11's create target: the app and a bare WSGI
# callable doing the app's own INSERT (bench/bare_create.py), each under gunicorn with
# the project's config, side by side on one fresh database, then pgbench's INSERT.
#   STOCKFLOW_VENV=... bash bench/bare_floor.sh [seconds] [connections] [rounds]
# Prints req/s per round (app /health, app create, bare /health, bare create) and the
# medians as shares of pgbench's single-row INSERT (the target is create >= 20 %).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-5}
connections=${2:-16}
rounds=${3:-3}
venv=${STOCKFLOW_VENV:-.venv}
# shellcheck source=bench/server.sh
. bench/server.sh
bench_server floor
"$venv/bin/python" bench/throughput_setup.py --url "$base" --admin-token "$STOCKFLOW_ADMIN_TOKEN" \
    --out "$work" --spread 1 --import-rows 0
set -a
# shellcheck disable=SC1091
. "$work/env"
set +a
app_base=$base
bare_port=$(free_port)
bare_base="http://127.0.0.1:$bare_port"
GUNICORN_BIND="127.0.0.1:$bare_port" COMPANY_ID=$COMPANY_ID \
    "$venv/bin/gunicorn" -c "$work/gunicorn.py" bench.bare_create:app >"$work/bare.log" 2>&1 &
bare=$!
trap 'kill "$bare" 2>/dev/null || true; _bench_server_cleanup' EXIT
wait_healthy "$bare_base" "$work/bare.log"

declare -A rps
for round in $(seq "$rounds"); do
    echo "== round $round"
    base=$app_base run_wrk "app_health#$round" /health get.lua
    base=$app_base run_wrk "app_create#$round" /api/products create_product.lua
    base=$bare_base run_wrk "bare_health#$round" /health get.lua
    base=$bare_base run_wrk "bare_create#$round" /api/products create_product.lua
done
kill "$bare" "$server"
wait "$bare" "$server" 2>/dev/null || true
server=""

psql -q -c 'CREATE SEQUENCE bench_sku' "$db"
tps=$(pgbench -n -c "$connections" -j 2 -T "$seconds" -f bench/pgbench/insert_product.sql \
    -D company="$COMPANY_ID" "$db" 2>&1 | sed -n 's/^tps = \([0-9.]*\) .*/\1/p' | head -n 1)
echo "== pgbench single-row INSERT: $tps tps"
for name in app_health app_create bare_health bare_create; do
    values=()
    for round in $(seq "$rounds"); do values+=("${rps[$name#$round]}"); done
    "$venv/bin/python" -c "
import statistics, sys
median = statistics.median(map(float, sys.argv[3:]))
print(f'  {sys.argv[1]:<12} {median:9.1f} req/s  = {100 * median / float(sys.argv[2]):3.0f} % of pgbench INSERT')
" "$name" "$tps" "${values[@]}"
done
