-- the minimal SQL of a sale spread over many rows: as sale_hot.sql, on a random product
\set p random(:first, :last)
BEGIN;
UPDATE inventory SET quantity = quantity - 1, updated_at = now()
WHERE company_id = :company AND product_id = :p AND warehouse_id = :warehouse
  AND quantity >= 1
RETURNING quantity AS after \gset
INSERT INTO inventory_ledger
    (company_id, product_id, warehouse_id, reason, quantity_change, quantity_after, operation_id)
VALUES (:company, :p, :warehouse, 'sale', -1, :after, 'pgbench');
COMMIT;
