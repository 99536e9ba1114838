-- open purchase orders (one line each) for every 6th alerting row of tenant 1: a fifth
-- without expected_at, a quarter partially received
WITH picked AS (
  SELECT i.product_id, i.warehouse_id, i.alert_threshold,
         row_number() OVER (ORDER BY i.product_id, i.warehouse_id) AS n
  FROM inventory i
  WHERE i.company_id = 1 AND i.quantity < i.alert_threshold AND i.window_sales > 0
), chosen AS (
  SELECT *, row_number() OVER (ORDER BY n) AS k FROM picked WHERE n % 6 = 0
), orders AS (
  INSERT INTO purchase_orders (company_id, supplier_id, warehouse_id, status, expected_at, ordered_at, reference)
  SELECT 1, (SELECT min(id) FROM suppliers WHERE company_id = 1), c.warehouse_id,
         CASE WHEN c.k % 4 = 0 THEN 'partially_received' ELSE 'ordered' END,
         CASE WHEN c.k % 5 = 0 THEN NULL ELSE now() + (c.k % 40) * interval '1 day' END, now(),
         'bench-' || c.k
  FROM chosen c
  RETURNING id, reference
)
INSERT INTO purchase_order_lines (company_id, purchase_order_id, product_id, quantity_ordered, quantity_received)
SELECT 1, o.id, c.product_id, c.alert_threshold + (c.k % 7) * 3, CASE WHEN c.k % 4 = 0 THEN 1 ELSE 0 END
FROM orders o JOIN chosen c ON o.reference = 'bench-' || c.k;
ANALYZE purchase_orders; ANALYZE purchase_order_lines;
