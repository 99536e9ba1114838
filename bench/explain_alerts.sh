#!/usr/bin/env bash
# EXPLAIN (ANALYZE, BUFFERS) of the SQL the low-stock alerts endpoint runs, on a live database.
#   bash bench/explain_alerts.sh postgresql://postgres@127.0.0.1/DB COMPANY_ID
# The statement and its parameters come from app.alerts.queries.explain(company_id).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -ne 2 ]; then
    echo "usage: $0 DATABASE_URL COMPANY_ID" >&2
    exit 2
fi
DATABASE_URL="$1" LOG_LEVEL=WARNING exec .venv/bin/python -c '
import sys
from app import create_app
from app.alerts.queries import explain
with create_app().app_context():
    print(explain(int(sys.argv[1])))
' "$2"
