#!/usr/bin/env bash
# EXPLAIN (ANALYZE, BUFFERS) of the SQL the low-stock alerts endpoint runs, on a live database.
#   bash bench/explain_alerts.sh postgresql://postgres@127.0.0.1/DB COMPANY_ID
# The statements and their parameters come from app.alerts.queries.explain(company_id):
# the first page from the kept state (the default window), then from the ledger.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -ne 2 ]; then
    echo "usage: $0 DATABASE_URL COMPANY_ID" >&2
    exit 2
fi
DATABASE_URL="$1" LOG_LEVEL=WARNING exec "${STOCKFLOW_VENV:-.venv}"/bin/python -c '
import sys
from app import create_app
from app.alerts.queries import explain
with create_app().app_context():
    print("-- from the kept state (days=30)")
    print(explain(int(sys.argv[1]), maintained=True))
    print("-- from the ledger (any window; the default window on a day the state is not current)")
    print(explain(int(sys.argv[1])))
' "$2"
