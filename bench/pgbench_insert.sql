-- pgbench -n -f bench/pgbench_insert.sql: one single-row INSERT per transaction into a
-- scratch table shaped like a ledger row (see bench/load_bench.sh, which creates it)
\set change random(-5, 30)
INSERT INTO pgbench_insert (company_id, quantity_change) VALUES (1, :change);
