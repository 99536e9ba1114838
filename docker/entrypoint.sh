#!/bin/sh
# The image's entrypoint. Checks the configuration first: a bad one prints one clear
# line and exits 78 (EX_CONFIG), before any migration or worker starts. Then:
#   serve    (default) gunicorn with gunicorn.conf.py (workers from the CPU quota)
#   migrate  alembic upgrade head
#   worker   the webhook worker (flask --app wsgi worker): SIGTERM finishes the delivery
#            in flight, then it exits 0
#   check    only the configuration check
#   anything else runs as given (e.g. "flask --app wsgi seed-demo")
set -eu

command="${1:-serve}"
python -m app.preflight || exit $?

case "$command" in
serve)
    exec gunicorn -c gunicorn.conf.py wsgi:app
    ;;
migrate)
    exec alembic upgrade head
    ;;
worker)
    exec flask --app wsgi worker
    ;;
check)
    exit 0
    ;;
*)
    exec "$@"
    ;;
esac
