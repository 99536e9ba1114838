#!/usr/bin/env bash
# Low-stock alerts benchmark: a throwaway PostgreSQL database filled by
# bench/generate_tenants.py, the alert state built by `flask refresh-alert-state`
# (timed), gunicorn on loopback, bench/alerts_load.py, then bench/alerts_figures.py
# (issue 12's figures: first page, every alert, raw SQL, per-row loop, polls under sales).
#   bash bench/alerts_bench.sh [requests] [threads] [seconds]
# Environment: KEEP_DB=1 keeps the database (dropped on exit otherwise);
# BENCH_DB=name reuses a database an earlier KEEP_DB=1 run generated (kept);
# SKIP_LOOP=1 skips the (slow) per-row loop; STOCKFLOW_VENV (default .venv);
# GEN_ARGS="--tenants 1 --ledger-rows 500000" passes options to the generator;
# LOAD_ARGS="--query page_size=1000" passes options to alerts_load.py;
# EXPLAIN=1 also prints EXPLAIN (ANALYZE, BUFFERS) of the alert statement;
# BENCH_PORT (default: a free port), GUNICORN_WORKERS, GUNICORN_THREADS.
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${1:-50}
threads=${2:-4}
seconds=${3:-10}
export PGHOST=${PGHOST:-127.0.0.1} PGUSER=${PGUSER:-postgres}
venv=${STOCKFLOW_VENV:-.venv}
db=${BENCH_DB:-"stockflow_alerts_$$"}
port=${BENCH_PORT:-$("$venv"/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
server_log=/tmp/stockflow-alerts-bench-gunicorn.log
generated=$(mktemp)
server=""
cleanup() {
    if [ -n "$server" ]; then
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    rm -f "$generated"
    if [ "${KEEP_DB:-0}" = 1 ] || [ -n "${BENCH_DB:-}" ]; then
        echo "kept database $db (DATABASE_URL=$DATABASE_URL); dropdb --force $db when done"
    else
        dropdb --if-exists --force "$db"
    fi
}
export DATABASE_URL="postgresql://$PGUSER@$PGHOST/$db"
export LOG_LEVEL=WARNING
trap cleanup EXIT
if [ -n "${BENCH_DB:-}" ]; then
    company_id=$(psql -tAc 'SELECT min(id) FROM companies' "$db")
    api_key=$("$venv"/bin/flask --app wsgi create-api-key "$company_id" --name bench | sed -n 's/^api_key=//p')
else
    createdb "$db"
    "$venv"/bin/alembic upgrade head >/dev/null 2>&1
    # shellcheck disable=SC2086  # GEN_ARGS is a list of options
    "$venv"/bin/python bench/generate_tenants.py --database-url "$DATABASE_URL" ${GEN_ARGS:-} | tee "$generated"
    # open purchase orders for a sixth of the alerting rows (the generator writes none)
    psql -q "$db" -f bench/alerts_orders.sql
    company_id=$(sed -n 's/^TENANT_COMPANY_ID=//p' "$generated")
    api_key=$(sed -n 's/^TENANT_API_KEY=//p' "$generated")
fi
echo "data: $(psql -tAc "SELECT count(*) FROM products WHERE company_id = $company_id" "$db") products, \
$(psql -tAc "SELECT count(*) FROM inventory WHERE company_id = $company_id" "$db") inventory rows, \
$(psql -tAc "SELECT count(*) FROM inventory_ledger WHERE company_id = $company_id" "$db") ledger rows of the tenant \
($(psql -tAc 'SELECT count(*) FROM inventory_ledger' "$db") in all)"
# the generator writes the tables directly: build the alert state from the ledger
start=$(date +%s.%N)
"$venv"/bin/flask --app wsgi refresh-alert-state --rebuild
echo "refresh-alert-state --rebuild (every company): $(echo "$(date +%s.%N) - $start" | bc) s"
# the rebuild rewrote every inventory row: vacuum as autovacuum would (visibility map)
psql -qc 'VACUUM (ANALYZE) inventory' "$db"
psql -qc 'VACUUM (ANALYZE) products' "$db"
start=$(date +%s.%N)
"$venv"/bin/flask --app wsgi refresh-alert-state --company "$company_id" >/dev/null
echo "refresh-alert-state --company $company_id (nothing moved): $(echo "$(date +%s.%N) - $start" | bc) s"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

GUNICORN_BIND="127.0.0.1:$port" "$venv"/bin/gunicorn -c gunicorn.conf.py --access-logfile /dev/null wsgi:app \
    >"$server_log" 2>&1 &
server=$!
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.2
done
if ! kill -0 "$server" 2>/dev/null || ! curl -sf "http://127.0.0.1:$port/health" >/dev/null; then
    echo "gunicorn did not come up on 127.0.0.1:$port; its log ($server_log):" >&2
    tail -n 30 "$server_log" >&2
    exit 1
fi
echo
echo "gunicorn workers=${GUNICORN_WORKERS:-$(($(nproc) * 2 + 1))} threads=${GUNICORN_THREADS:-4}, PostgreSQL $(psql -tAc 'show server_version' "$db"), $(nproc) cores"
# shellcheck disable=SC2086  # LOAD_ARGS is a list of options
"$venv"/bin/python bench/alerts_load.py --url "http://127.0.0.1:$port" --company-id "$company_id" \
    --api-key "$api_key" --requests "$requests" --threads "$threads" --duration "$seconds" ${LOAD_ARGS:-}
echo
echo "issue 12's figures (load average: $(cut -d' ' -f1-3 /proc/loadavg)):"
skip_loop=""
[ "${SKIP_LOOP:-0}" = 1 ] && skip_loop=--skip-loop
"$venv"/bin/python bench/alerts_figures.py --url "http://127.0.0.1:$port" --company-id "$company_id" \
    --api-key "$api_key" --database-url "$DATABASE_URL" $skip_loop
if [ "${EXPLAIN:-0}" = 1 ]; then
    bash bench/explain_alerts.sh "$DATABASE_URL" "$company_id"
fi
