-- the minimal SQL of a sale of one hot row: the conditional UPDATE and the ledger INSERT
BEGIN;
UPDATE inventory SET quantity = quantity - 1, updated_at = now()
WHERE company_id = :company AND product_id = :product AND warehouse_id = :warehouse
  AND quantity >= 1
RETURNING quantity AS after \gset
INSERT INTO inventory_ledger
    (company_id, product_id, warehouse_id, reason, quantity_change, quantity_after, operation_id)
VALUES (:company, :product, :warehouse, 'sale', -1, :after, 'pgbench');
COMMIT;
