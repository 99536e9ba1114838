#!/usr/bin/env bash
# Mixed load benchmark: a throwaway PostgreSQL database, gunicorn (gunicorn.conf.py, access
# log off) on loopback, bench/load_mix.py (product creation, sales, transfers, receipts and
# alert polls from concurrent clients, then the database checks), then the database's own
# ceiling on this machine: pgbench with one single-row INSERT per transaction.
#   bash bench/load_bench.sh [clients] [seconds]              # default 32 clients, 20 s
#   bash bench/load_bench.sh --sigterm [clients] [seconds]    # SIGTERM gunicorn mid-load
# --sigterm sends SIGTERM to the gunicorn master after SIGTERM_AFTER seconds (default: a
# third of the load) and checks that the in-flight requests finished or failed cleanly,
# that every 2xx is in the database and that gunicorn exited with 0 within
# GUNICORN_GRACEFUL_TIMEOUT (default 30 s); no pgbench then.
# Environment: PGBENCH_SECONDS (default 15), LOAD_ARGS (more load_mix.py options, e.g.
# "--mix sell=1"), KEEP_DB=1 keeps the database, BENCH_PORT (default: a free port),
# GUNICORN_WORKERS, GUNICORN_THREADS, GUNICORN_GRACEFUL_TIMEOUT.
set -euo pipefail
cd "$(dirname "$0")/.."
sigterm=0
if [ "${1:-}" = --sigterm ]; then
    sigterm=1
    shift
fi
clients=${1:-32}
seconds=${2:-20}
pgbench_seconds=${PGBENCH_SECONDS:-15}
export PGHOST=${PGHOST:-127.0.0.1} PGUSER=${PGUSER:-postgres}
export GUNICORN_GRACEFUL_TIMEOUT=${GUNICORN_GRACEFUL_TIMEOUT:-30}
db="stockflow_load_$$"
free_port='import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
port=${BENCH_PORT:-$(.venv/bin/python -c "$free_port")}
server_log=/tmp/stockflow-load-bench-gunicorn-$$.log
# gunicorn.conf.py as it is, with the access log off (not just sent to /dev/null)
server_conf=$(mktemp --suffix=.py)
printf 'exec(open("%s").read())\naccesslog = None\n' "$PWD/gunicorn.conf.py" >"$server_conf"
server=""
load_out=""
cleanup() {
    if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    rm -f "$server_conf" "$load_out"
    if [ "${KEEP_DB:-0}" = 1 ]; then
        echo "kept database $db (DATABASE_URL=$DATABASE_URL); dropdb --force $db when done"
    else
        dropdb --if-exists --force "$db"
    fi
}
export DATABASE_URL="postgresql://$PGUSER@$PGHOST/$db"
export STOCKFLOW_ADMIN_TOKEN="load-$$-$RANDOM$RANDOM"
export LOG_LEVEL=WARNING
trap cleanup EXIT
createdb "$db"
.venv/bin/alembic upgrade head >/dev/null 2>&1

GUNICORN_BIND="127.0.0.1:$port" .venv/bin/gunicorn -c "$server_conf" wsgi:app >"$server_log" 2>&1 &
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
echo "$(nproc) cores, PostgreSQL $(psql -tAc 'show server_version' "$db"), gunicorn" \
    "workers=${GUNICORN_WORKERS:-$(($(nproc) * 2 + 1))} threads=${GUNICORN_THREADS:-4}" \
    "graceful_timeout=${GUNICORN_GRACEFUL_TIMEOUT}s, access log off"

load_args=(--url "http://127.0.0.1:$port" --admin-token "$STOCKFLOW_ADMIN_TOKEN"
    --database-url "$DATABASE_URL" --clients "$clients" --duration "$seconds")
status=0
load_out=$(mktemp)
if [ "$sigterm" = 1 ]; then
    after=${SIGTERM_AFTER:-$(.venv/bin/python -c "print(round($seconds / 3, 1))")}
    # the clients carry on until the server refuses them; the duration is only a bound
    # shellcheck disable=SC2086  # LOAD_ARGS is a list of options
    .venv/bin/python bench/load_mix.py "${load_args[@]}" --sigterm-after "$after" \
        --server-pid "$server" --graceful-timeout "$GUNICORN_GRACEFUL_TIMEOUT" ${LOAD_ARGS:-} ||
        status=$?
    started=$SECONDS
    code=0
    wait "$server" || code=$?
    server=""
    if [ "$code" = 0 ]; then
        echo "  [ok] gunicorn exited with 0"
    else
        echo "  [FAIL] gunicorn exited with $code (after $((SECONDS - started)) s more); its log:"
        tail -n 30 "$server_log"
        status=1
    fi
    if grep -q -E 'Traceback|ERROR' "$server_log"; then
        echo "  note: gunicorn logged errors ($server_log):"
        grep -E 'Traceback|ERROR' "$server_log" | head -n 10
    fi
    exit "$status"
fi

# shellcheck disable=SC2086  # LOAD_ARGS is a list of options
.venv/bin/python bench/load_mix.py "${load_args[@]}" ${LOAD_ARGS:-} | tee "$load_out" ||
    status=$?
kill "$server"
wait "$server" || true
server=""

# the database's ceiling on the same machine, without the API: one single-row INSERT
# (a bigserial key and a timestamptz default, like a ledger row) per transaction
psql -q -c 'CREATE TABLE pgbench_insert (id bigserial PRIMARY KEY, company_id integer NOT NULL,
    quantity_change integer NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now())' "$db"
jobs=$((clients < 2 ? clients : 2))
pgbench_out=$(pgbench -n -c "$clients" -j "$jobs" -T "$pgbench_seconds" \
    -f bench/pgbench_insert.sql "$db" 2>&1) || {
    echo "$pgbench_out"
    exit 1
}
tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$pgbench_out" | head -n 1)
latency=$(sed -n 's/^latency average = \(.*\)$/\1/p' <<<"$pgbench_out")
echo
echo "pgbench, $clients clients x ${pgbench_seconds} s, one single-row INSERT per transaction:" \
    "$(printf '%.0f' "$tps") transactions/s (latency average $latency)"
writes=$(sed -n 's/^acknowledged writes: [0-9]* in [0-9.]* s = \([0-9.]*\)\/s.*/\1/p' "$load_out")
if [ -n "$writes" ] && [ -n "$tps" ]; then
    echo "the API's acknowledged writes ($writes/s, each one transaction of several statements)" \
        "are $(.venv/bin/python -c "print(f'{100 * $writes / $tps:.1f}')") % of that ceiling"
fi
exit "$status"
