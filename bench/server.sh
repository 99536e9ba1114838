# Sourced by the write benchmarks (throughput.sh, profile_writes.sh): a fresh PostgreSQL
# database, migrated, and gunicorn as configured (access log off) on it, stopped and the
# database dropped when the script exits.
#   bench_server PREFIX    # needs $venv; sets db, work, port, base, server
#   run_wrk NAME PATH LUA [BODY_FILE]   # needs $base, $seconds, $connections, `declare -A rps`
#   free_port; wait_healthy BASE LOG    # for a second server beside it (bare_floor.sh)
# BENCH_PORT (default: a free port); KEEP_DB=1 keeps the database.

# free_port: a TCP port on the loopback that is free now
free_port() {
    "$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_healthy BASE LOG: wait (up to 20 s) until BASE/health answers; else LOG's tail, exit 1
wait_healthy() {
    for _ in $(seq 100); do
        curl -sf "$1/health" >/dev/null && return 0
        sleep 0.2
    done
    tail -n 30 "$2" >&2
    exit 1
}

bench_server() {
    export PGHOST=${PGHOST:-127.0.0.1} PGUSER=${PGUSER:-postgres}
    db="stockflow_$1_$$"
    work=$(mktemp -d)
    port=${BENCH_PORT:-$(free_port)}
    base="http://127.0.0.1:$port"
    server=""
    trap _bench_server_cleanup EXIT
    export DATABASE_URL="postgresql://$PGUSER@$PGHOST/$db"
    export STOCKFLOW_ADMIN_TOKEN="$1-$$-$RANDOM$RANDOM$RANDOM"
    export LOG_LEVEL=WARNING
    createdb "$db"
    "$venv/bin/alembic" upgrade head >/dev/null 2>&1
    printf 'exec(open("%s").read())\naccesslog = None\n' "$PWD/gunicorn.conf.py" >"$work/gunicorn.py"
    GUNICORN_BIND="127.0.0.1:$port" "$venv/bin/gunicorn" -c "$work/gunicorn.py" wsgi:app \
        >"$work/gunicorn.log" 2>&1 &
    server=$!
    wait_healthy "$base" "$work/gunicorn.log"
}

_bench_server_cleanup() {
    if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    rm -rf "$work"
    if [ "${KEEP_DB:-0}" = 1 ]; then echo "kept database $db"; else dropdb --if-exists --force "$db"; fi
}

# run_wrk NAME PATH LUA [BODY_FILE]: wrk against $base$PATH for $seconds s with
# ${WRK_CONNECTIONS:-$connections} connections (timeout ${WRK_TIMEOUT:-2s}); prints the
# rate, p50 and p99 and puts the requests/s into rps[NAME]; any non-2xx fails the run
run_wrk() {
    local name=$1 path=$2 lua=$3 out
    out=$(BODY_FILE=${4:-/dev/null} RUN_TAG="$name$$" wrk -t2 -c "${WRK_CONNECTIONS:-$connections}" -d "${seconds}s" \
        --timeout "${WRK_TIMEOUT:-2s}" --latency -s "bench/wrk/$lua" "$base$path")
    if grep -q 'Non-2xx' <<<"$out"; then
        echo "$out" >&2
        echo "$name: responses other than 2xx (see above)" >&2
        exit 1
    fi
    rps[$name]=$(sed -n 's/^Requests\/sec: *\([0-9.]*\)/\1/p' <<<"$out")
    printf '  %-28s %10.1f req/s   p50 %s  p99 %s\n' "$name" "${rps[$name]}" \
        "$(awk '$1 == "50%" {print $2}' <<<"$out")" "$(awk '$1 == "99%" {print $2}' <<<"$out")"
}
