#!/usr/bin/env bash
# Low-stock alerts benchmark: a throwaway PostgreSQL database filled by
# bench/generate_tenants.py, gunicorn on loopback, bench/alerts_load.py.
#   bash bench/alerts_bench.sh [requests] [threads] [seconds]
# Environment: KEEP_DB=1 keeps the database (dropped on exit otherwise);
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
db="stockflow_alerts_$$"
port=${BENCH_PORT:-$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
server_log=/tmp/stockflow-alerts-bench-gunicorn.log
generated=$(mktemp)
server=""
cleanup() {
    if [ -n "$server" ]; then
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    rm -f "$generated"
    if [ "${KEEP_DB:-0}" = 1 ]; then
        echo "kept database $db (DATABASE_URL=$DATABASE_URL); dropdb --force $db when done"
    else
        dropdb --if-exists --force "$db"
    fi
}
export DATABASE_URL="postgresql://$PGUSER@$PGHOST/$db"
export LOG_LEVEL=WARNING
trap cleanup EXIT
createdb "$db"
.venv/bin/alembic upgrade head >/dev/null 2>&1
# shellcheck disable=SC2086  # GEN_ARGS is a list of options
.venv/bin/python bench/generate_tenants.py --database-url "$DATABASE_URL" ${GEN_ARGS:-} | tee "$generated"
company_id=$(sed -n 's/^TENANT_COMPANY_ID=//p' "$generated")
api_key=$(sed -n 's/^TENANT_API_KEY=//p' "$generated")

GUNICORN_BIND="127.0.0.1:$port" .venv/bin/gunicorn -c gunicorn.conf.py --access-logfile /dev/null wsgi:app \
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
.venv/bin/python bench/alerts_load.py --url "http://127.0.0.1:$port" --company-id "$company_id" \
    --api-key "$api_key" --requests "$requests" --threads "$threads" --duration "$seconds" ${LOAD_ARGS:-}
if [ "${EXPLAIN:-0}" = 1 ]; then
    bash bench/explain_alerts.sh "$DATABASE_URL" "$company_id"
fi
