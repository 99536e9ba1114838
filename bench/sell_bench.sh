#!/usr/bin/env bash
# Sell benchmark: a throwaway PostgreSQL database, gunicorn on loopback, bench/sell_load.py.
#   bash bench/sell_bench.sh [threads] [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-16}
seconds=${2:-20}
export PGHOST=${PGHOST:-127.0.0.1} PGUSER=${PGUSER:-postgres}
db="stockflow_bench_$$"
port=${BENCH_PORT:-8765}
createdb "$db"
export DATABASE_URL="postgresql://$PGUSER@$PGHOST/$db"
export STOCKFLOW_ADMIN_TOKEN="bench-$$-$RANDOM"
export LOG_LEVEL=WARNING
.venv/bin/alembic upgrade head >/dev/null 2>&1
GUNICORN_BIND="127.0.0.1:$port" .venv/bin/gunicorn -c gunicorn.conf.py --access-logfile /dev/null wsgi:app \
    >/tmp/stockflow-bench-gunicorn.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; dropdb --if-exists --force "$db"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.2; done
echo "gunicorn workers=${GUNICORN_WORKERS:-$(( $(nproc) * 2 + 1 ))} threads=${GUNICORN_THREADS:-4}, PostgreSQL $(psql -tAc 'show server_version' "$db")"
.venv/bin/python bench/sell_load.py --url "http://127.0.0.1:$port" --admin-token "$STOCKFLOW_ADMIN_TOKEN" \
    --threads "$threads" --duration "$seconds"
