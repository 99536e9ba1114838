#!/usr/bin/env bash
# StockFlow developer commands. Needs only Python 3.11+; installs into ./.venv.
#   ./dev.sh serve        start the API and the webhook worker on the embedded SQLite database,
#                         migrated, with demo data
#   ./dev.sh test [args]  run the whole test suite (SQLite; PostgreSQL with TEST_DATABASE_URL)
#   ./dev.sh lint         ruff check and format check
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
VENV=${STOCKFLOW_VENV:-.venv}

ensure_venv() {
    if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        echo "StockFlow needs Python 3.11 or newer (python3 is $(python3 --version))" >&2
        exit 1
    fi
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    local stamp="$VENV/.installed"
    # reinstall only when the pinned requirements changed
    if [ ! -f "$stamp" ] || [ requirements.txt -nt "$stamp" ] || [ requirements-dev.txt -nt "$stamp" ]; then
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
        touch "$stamp"
    fi
}

case "${1:-}" in
serve)
    ensure_venv
    "$VENV/bin/alembic" upgrade head
    "$VENV/bin/flask" --app wsgi seed-demo
    if [ -z "${STOCKFLOW_ADMIN_TOKEN:-}" ]; then
        STOCKFLOW_ADMIN_TOKEN=$("$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(24))')
        export STOCKFLOW_ADMIN_TOKEN
        echo "admin_token=$STOCKFLOW_ADMIN_TOKEN (generated for this run; set STOCKFLOW_ADMIN_TOKEN to choose one)"
    fi
    export GUNICORN_BIND=${GUNICORN_BIND:-127.0.0.1:${PORT:-8000}}
    echo "StockFlow on http://$GUNICORN_BIND  (API docs: http://$GUNICORN_BIND/api/docs)"
    # the webhook worker runs beside the server and stops with it (by PID, whichever
    # ends first or whatever stops serve: Ctrl-C, SIGTERM)
    pids=()
    stop_all() {
        kill -TERM "${pids[@]}" 2>/dev/null || true
        wait "${pids[@]}" 2>/dev/null || true
    }
    trap 'stop_all; exit 130' INT
    trap 'stop_all; exit 143' TERM
    "$VENV/bin/flask" --app wsgi worker &
    pids+=($!)
    "$VENV/bin/gunicorn" -c gunicorn.conf.py wsgi:app &
    pids+=($!)
    status=0
    wait "${pids[1]}" || status=$?
    stop_all
    exit "$status"
    ;;
test)
    shift
    ensure_venv
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
lint)
    ensure_venv
    "$VENV/bin/ruff" check .
    "$VENV/bin/ruff" format --check .
    ;;
*)
    # the usage is the comment at the top of this file, without its "# "
    sed -n '2,/^[^#]/s/^# \{0,1\}\(.*\)/\1/p' "$0"
    exit 2
    ;;
esac
