#!/usr/bin/env bash
# Throughput, measured side by side in one run on one fresh PostgreSQL database:
# gunicorn (gunicorn.conf.py, access log off) driven by wrk (a C load generator, so the
# client does not steal the server's CPU), then pgbench running the minimal SQL of each
# operation on the same database. Prints every figure and the ratios the targets name.
#   bash bench/throughput.sh [seconds] [connections]     # default 10 s, 16 connections
# Environment: ROUNDS (default 3: passes over the single requests, medians reported),
# BENCH_PORT (default: a free port), GUNICORN_WORKERS, GUNICORN_THREADS,
# BATCH_CONNECTIONS (default 2: batches of the same rows run one at a time anyway),
# STOCKFLOW_VENV (default .venv), KEEP_DB=1 keeps the database, SKIP_IMPORT=1.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
connections=${2:-16}
venv=${STOCKFLOW_VENV:-.venv}
command -v wrk >/dev/null || { echo "needs wrk: apt-get install -y wrk" >&2; exit 1; }
# shellcheck source=bench/server.sh
. bench/server.sh
bench_server tp

"$venv/bin/python" bench/throughput_setup.py --url "$base" --admin-token "$STOCKFLOW_ADMIN_TOKEN" \
    --out "$work"
set -a
# shellcheck disable=SC1091
. "$work/env"
set +a
echo "$(nproc) cores, PostgreSQL $(psql -tAc 'show server_version' "$db"), gunicorn" \
    "workers=${GUNICORN_WORKERS:-auto} threads=${GUNICORN_THREADS:-4}, wrk -c $connections," \
    "${seconds} s each"

declare -A rps  # run_wrk's figures (bench/server.sh)

echo "== API (wrk)"
# the single requests in ROUNDS interleaved passes (the machine is shared and noisy): each
# figure below is the median of its rounds, and each cost against /health is also given
# per round (that round's write against that round's /health)
rounds=${ROUNDS:-3}
repeated=(health create_product sale_hot sale_spread)
batch_status=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$base/api/stock/batch" \
    -H "Authorization: Bearer $API_KEY" -H 'Content-Type: application/json' \
    --data-binary @"$work/batch.json")
if [ "$batch_status" = 201 ]; then
    repeated+=(batch_1000_sales)
else
    echo "  batch: POST /api/stock/batch answered $batch_status; skipped"
fi
# every batch locks the same 200 rows, so batches run one after the other: two
# connections keep one batch under its locks while the next is read and checked; more
# only queue on the locks (their figure follows, for information)
batch_connections=${BATCH_CONNECTIONS:-2}
for round in $(seq "$rounds"); do
    run_wrk "health#$round" /health get.lua
    run_wrk "create_product#$round" /api/products create_product.lua
    run_wrk "sale_hot#$round" /api/stock/sales post_json.lua "$work/sale.json"
    run_wrk "sale_spread#$round" /api/stock/sales sell_spread.lua
    if [ "$batch_status" = 201 ]; then
        WRK_CONNECTIONS=$batch_connections WRK_TIMEOUT=20s \
            run_wrk "batch_1000_sales#$round" /api/stock/batch post_json.lua "$work/batch.json"
    fi
done
median() { "$venv/bin/python" -c "import statistics, sys; print(statistics.median(map(float, sys.argv[1:])))" "$@"; }
for name in "${repeated[@]}"; do
    values=()
    for round in $(seq "$rounds"); do values+=("${rps[$name#$round]}"); done
    rps[$name]=$(median "${values[@]}")
    printf '  %-28s %10.1f req/s   (median of %s rounds)\n' "$name" "${rps[$name]}" "$rounds"
done
if [ "$batch_status" = 201 ]; then
    WRK_CONNECTIONS=4 WRK_TIMEOUT=20s \
        run_wrk batch_1000_sales_4_connections /api/stock/batch post_json.lua "$work/batch.json"
fi
if [ "${SKIP_IMPORT:-0}" != 1 ]; then
    # every file is one request of at most 10,000 rows (the import's limit), in turn
    rows=0
    import_seconds=0
    for file in "$work"/import_*.csv; do
        start=$(date +%s.%N)
        import_status=$(curl -s -o "$work/import.out" -w '%{http_code}' -X POST \
            "$base/api/products/import" -H "Authorization: Bearer $API_KEY" \
            -H 'Content-Type: text/csv' --data-binary @"$file")
        if [ "${import_status:0:1}" != 2 ]; then
            echo "  import: POST /api/products/import answered $import_status; skipped"
            head -c 300 "$work/import.out"
            import_seconds=""
            break
        fi
        import_seconds=$("$venv/bin/python" -c "print(round($import_seconds + $(date +%s.%N) - $start, 2))")
        rows=$((rows + $(wc -l <"$file") - 1))
    done
    if [ -n "$import_seconds" ]; then
        printf '  %-28s %10.2f s for %d products with stock\n' import_csv "$import_seconds" "$rows"
    fi
fi
kill "$server"
wait "$server" || true
server=""

echo "== PostgreSQL alone (pgbench -c $connections, the minimal SQL of each operation)"
psql -q -c 'CREATE SEQUENCE bench_sku' "$db"
declare -A tps
run_pgbench() {
    local name=$1 file=$2 out
    out=$(pgbench -n -c "$connections" -j 2 -T "$seconds" -f "bench/pgbench/$file" \
        -D company="$COMPANY_ID" -D warehouse="$WAREHOUSE_ID" -D product="$HOT_PRODUCT_ID" \
        -D first="$PRODUCT_FIRST" -D last="$PRODUCT_LAST" "$db" 2>&1) || {
        echo "$out" >&2
        exit 1
    }
    tps[$name]=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out" | head -n 1)
    printf '  %-28s %10.1f tps\n' "$name" "${tps[$name]}"
}
run_pgbench insert_product insert_product.sql
run_pgbench sale_hot sale_hot.sql
run_pgbench sale_spread sale_spread.sql

ratio() { "$venv/bin/python" -c "print(f'{100 * $1 / $2:.0f} %')"; }
times() { "$venv/bin/python" -c "print(f'{$1 / $2:.1f}x')"; }
# per_round A B [SCALE]: SCALE x A's rate over B's in each round, as "a-b" (lowest-highest);
# per_round health NAME is NAME's cost against /health
per_round() {
    local values=()
    for round in $(seq "$rounds"); do values+=("${3:-1}*${rps[$1#$round]}/${rps[$2#$round]}"); done
    "$venv/bin/python" -c "import sys; r = sorted(eval(v) for v in sys.argv[1:]); print(f'rounds {r[0]:.1f}-{r[-1]:.1f}x')" "${values[@]}"
}
echo "== ratios (targets in brackets)"
echo "  create product / pgbench INSERT            $(ratio "${rps[create_product]}" "${tps[insert_product]}")  [>= 20 %]"
echo "  sale, hot row / pgbench UPDATE+INSERT      $(ratio "${rps[sale_hot]}" "${tps[sale_hot]}")  [>= 60 %]"
echo "  sale, spread / pgbench UPDATE+INSERT       $(ratio "${rps[sale_spread]}" "${tps[sale_spread]}")"
echo "  cost of a create vs GET /health            $(times "${rps[health]}" "${rps[create_product]}")  [<= 4x]  ($(per_round health create_product))"
echo "  cost of a hot sale vs GET /health          $(times "${rps[health]}" "${rps[sale_hot]}")  [<= 4x]  ($(per_round health sale_hot))"
echo "  cost of a spread sale vs GET /health       $(times "${rps[health]}" "${rps[sale_spread]}")  [<= 4x]  ($(per_round health sale_spread))"
if [ -n "${rps[batch_1000_sales]:-}" ]; then
    rows_per_s=$("$venv/bin/python" -c "print(round(${rps[batch_1000_sales]} * 1000))")
    rows_4=$("$venv/bin/python" -c "print(round(${rps[batch_1000_sales_4_connections]} * 1000))")
    echo "  batch ledger rows/s ($batch_connections connections)        $rows_per_s  [>= 10000]"
    echo "  batch rows/s vs single spread sales/s      $(times "$rows_per_s" "${rps[sale_spread]}")  [>= 20x]  ($(per_round batch_1000_sales sale_spread 1000))"
    echo "  the same with 4 batch connections          $rows_4 rows/s, $(times "$rows_4" "${rps[sale_spread]}")"
fi
if [ -n "${import_seconds:-}" ]; then
    echo "  import of $rows products with stock           ${import_seconds} s  [<= 15 s]"
fi
