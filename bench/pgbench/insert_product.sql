-- the minimal SQL of a product create: one single-row INSERT (defaults as the API's)
INSERT INTO products (company_id, name, sku, price)
VALUES (:company, 'Bench product', 'pgb-' || nextval('bench_sku'), 9.99);
