-- StockFlow PostgreSQL schema, generated from the alembic migrations by
-- `python migrations/schema_sql.py`. Do not edit: write a migration instead.

BEGIN;

CREATE TABLE alembic_version (
    version_num VARCHAR(32) NOT NULL,
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);

-- Running upgrade  -> 0001

CREATE TABLE companies (
    id SERIAL NOT NULL,
    name VARCHAR(255) NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    CONSTRAINT pk_companies PRIMARY KEY (id)
);

CREATE TABLE api_keys (
    id SERIAL NOT NULL,
    company_id INTEGER NOT NULL,
    name VARCHAR(100) NOT NULL,
    prefix VARCHAR(16) NOT NULL,
    key_hash VARCHAR(64) NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    revoked_at TIMESTAMP WITH TIME ZONE,
    CONSTRAINT pk_api_keys PRIMARY KEY (id),
    CONSTRAINT fk_api_keys_company_id_companies FOREIGN KEY(company_id) REFERENCES companies (id) ON DELETE CASCADE,
    CONSTRAINT uq_api_keys_prefix UNIQUE (prefix)
);

CREATE INDEX ix_api_keys_company_id ON api_keys (company_id);

CREATE TABLE idempotency_keys (
    id BIGSERIAL NOT NULL,
    company_id INTEGER NOT NULL,
    key VARCHAR(255) NOT NULL,
    fingerprint VARCHAR(64) NOT NULL,
    status_code INTEGER,
    response_body TEXT,
    response_headers TEXT,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    CONSTRAINT pk_idempotency_keys PRIMARY KEY (id),
    CONSTRAINT fk_idempotency_keys_company_id_companies FOREIGN KEY(company_id) REFERENCES companies (id) ON DELETE CASCADE,
    CONSTRAINT uq_idempotency_keys_company_id_key UNIQUE (company_id, key)
);

CREATE TABLE product_type_thresholds (
    company_id INTEGER NOT NULL,
    product_type VARCHAR(50) NOT NULL,
    low_stock_threshold INTEGER NOT NULL,
    CONSTRAINT pk_product_type_thresholds PRIMARY KEY (company_id, product_type),
    CONSTRAINT ck_product_type_thresholds_threshold_non_negative CHECK (low_stock_threshold >= 0),
    CONSTRAINT fk_product_type_thresholds_company_id_companies FOREIGN KEY(company_id) REFERENCES companies (id) ON DELETE CASCADE
);

CREATE TABLE products (
    id SERIAL NOT NULL,
    company_id INTEGER NOT NULL,
    name VARCHAR(255) NOT NULL,
    sku VARCHAR(100) NOT NULL,
    price NUMERIC(12, 2) NOT NULL,
    product_type VARCHAR(50) DEFAULT 'regular' NOT NULL,
    low_stock_threshold INTEGER,
    is_bundle BOOLEAN DEFAULT false NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    archived_at TIMESTAMP WITH TIME ZONE,
    CONSTRAINT pk_products PRIMARY KEY (id),
    CONSTRAINT ck_products_threshold_non_negative CHECK (low_stock_threshold IS NULL OR low_stock_threshold >= 0),
    CONSTRAINT ck_products_price_non_negative CHECK (price >= 0),
    CONSTRAINT fk_products_company_id_companies FOREIGN KEY(company_id) REFERENCES companies (id) ON DELETE CASCADE,
    CONSTRAINT uq_products_company_id_id UNIQUE (company_id, id),
    CONSTRAINT uq_products_company_id_sku UNIQUE (company_id, sku)
);

CREATE INDEX ix_products_company_id_product_type ON products (company_id, product_type);

CREATE TABLE suppliers (
    id SERIAL NOT NULL,
    company_id INTEGER NOT NULL,
    name VARCHAR(255) NOT NULL,
    contact_email VARCHAR(320),
    phone VARCHAR(50),
    notes TEXT,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    archived_at TIMESTAMP WITH TIME ZONE,
    CONSTRAINT pk_suppliers PRIMARY KEY (id),
    CONSTRAINT fk_suppliers_company_id_companies FOREIGN KEY(company_id) REFERENCES companies (id) ON DELETE CASCADE,
    CONSTRAINT uq_suppliers_company_id_id UNIQUE (company_id, id)
);

CREATE INDEX ix_suppliers_company_id ON suppliers (company_id);

CREATE TABLE warehouses (
    id SERIAL NOT NULL,
    company_id INTEGER NOT NULL,
    name VARCHAR(255) NOT NULL,
    location VARCHAR(255),
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    archived_at TIMESTAMP WITH TIME ZONE,
    CONSTRAINT pk_warehouses PRIMARY KEY (id),
    CONSTRAINT fk_warehouses_company_id_companies FOREIGN KEY(company_id) REFERENCES companies (id) ON DELETE CASCADE,
    CONSTRAINT uq_warehouses_company_id_id UNIQUE (company_id, id)
);

CREATE INDEX ix_warehouses_company_id ON warehouses (company_id);

CREATE TABLE bundle_components (
    company_id INTEGER NOT NULL,
    bundle_product_id INTEGER NOT NULL,
    component_product_id INTEGER NOT NULL,
    quantity INTEGER NOT NULL,
    CONSTRAINT pk_bundle_components PRIMARY KEY (company_id, bundle_product_id, component_product_id),
    CONSTRAINT ck_bundle_components_not_self CHECK (bundle_product_id <> component_product_id),
    CONSTRAINT ck_bundle_components_quantity_positive CHECK (quantity > 0),
    CONSTRAINT fk_bundle_components_company_id_bundle_product_id_products FOREIGN KEY(company_id, bundle_product_id) REFERENCES products (company_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_bundle_components_company_id_component_product_id_products FOREIGN KEY(company_id, component_product_id) REFERENCES products (company_id, id),
    CONSTRAINT fk_bundle_components_company_id_companies FOREIGN KEY(company_id) REFERENCES companies (id) ON DELETE CASCADE
);

CREATE INDEX ix_bundle_components_component ON bundle_components (company_id, component_product_id);

CREATE TABLE inventory (
    id SERIAL NOT NULL,
    company_id INTEGER NOT NULL,
    product_id INTEGER NOT NULL,
    warehouse_id INTEGER NOT NULL,
    quantity INTEGER DEFAULT '0' NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    CONSTRAINT pk_inventory PRIMARY KEY (id),
    CONSTRAINT ck_inventory_quantity_non_negative CHECK (quantity >= 0),
    CONSTRAINT fk_inventory_company_id_product_id_products FOREIGN KEY(company_id, product_id) REFERENCES products (company_id, id),
    CONSTRAINT fk_inventory_company_id_warehouse_id_warehouses FOREIGN KEY(company_id, warehouse_id) REFERENCES warehouses (company_id, id),
    CONSTRAINT fk_inventory_company_id_companies FOREIGN KEY(company_id) REFERENCES companies (id) ON DELETE CASCADE,
    CONSTRAINT uq_inventory_company_id_product_id_warehouse_id UNIQUE (company_id, product_id, warehouse_id)
);

CREATE INDEX ix_inventory_company_id_warehouse_id ON inventory (company_id, warehouse_id);

CREATE TABLE inventory_ledger (
    id BIGSERIAL NOT NULL,
    company_id INTEGER NOT NULL,
    product_id INTEGER NOT NULL,
    warehouse_id INTEGER NOT NULL,
    reason VARCHAR(20) NOT NULL,
    quantity_change INTEGER NOT NULL,
    quantity_after INTEGER NOT NULL,
    operation_id VARCHAR(36) NOT NULL,
    reference VARCHAR(255),
    note TEXT,
    bundle_product_id INTEGER,
    supplier_id INTEGER,
    unit_cost NUMERIC(12, 2),
    occurred_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    recorded_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    CONSTRAINT pk_inventory_ledger PRIMARY KEY (id),
    CONSTRAINT ck_inventory_ledger_reason_known CHECK (reason IN ('initial', 'receipt', 'sale', 'adjustment', 'transfer_in', 'transfer_out', 'return')),
    CONSTRAINT ck_inventory_ledger_quantity_after_non_negative CHECK (quantity_after >= 0),
    CONSTRAINT ck_inventory_ledger_unit_cost_non_negative CHECK (unit_cost IS NULL OR unit_cost >= 0),
    CONSTRAINT fk_inventory_ledger_company_id_bundle_product_id_products FOREIGN KEY(company_id, bundle_product_id) REFERENCES products (company_id, id),
    CONSTRAINT fk_inventory_ledger_company_id_product_id_products FOREIGN KEY(company_id, product_id) REFERENCES products (company_id, id),
    CONSTRAINT fk_inventory_ledger_company_id_supplier_id_suppliers FOREIGN KEY(company_id, supplier_id) REFERENCES suppliers (company_id, id),
    CONSTRAINT fk_inventory_ledger_company_id_warehouse_id_warehouses FOREIGN KEY(company_id, warehouse_id) REFERENCES warehouses (company_id, id),
    CONSTRAINT fk_inventory_ledger_company_id_companies FOREIGN KEY(company_id) REFERENCES companies (id) ON DELETE CASCADE
);

CREATE INDEX ix_inventory_ledger_product_movements ON inventory_ledger (company_id, product_id, warehouse_id, reason, occurred_at);

CREATE TABLE supplier_products (
    id SERIAL NOT NULL,
    company_id INTEGER NOT NULL,
    product_id INTEGER NOT NULL,
    supplier_id INTEGER NOT NULL,
    supplier_sku VARCHAR(100),
    cost_price NUMERIC(12, 2),
    lead_time_days INTEGER,
    min_order_quantity INTEGER DEFAULT '1' NOT NULL,
    pack_size INTEGER DEFAULT '1' NOT NULL,
    is_preferred BOOLEAN DEFAULT false NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    CONSTRAINT pk_supplier_products PRIMARY KEY (id),
    CONSTRAINT ck_supplier_products_cost_non_negative CHECK (cost_price IS NULL OR cost_price >= 0),
    CONSTRAINT ck_supplier_products_lead_time_non_negative CHECK (lead_time_days IS NULL OR lead_time_days >= 0),
    CONSTRAINT ck_supplier_products_min_order_positive CHECK (min_order_quantity >= 1),
    CONSTRAINT ck_supplier_products_pack_size_positive CHECK (pack_size >= 1),
    CONSTRAINT fk_supplier_products_company_id_product_id_products FOREIGN KEY(company_id, product_id) REFERENCES products (company_id, id),
    CONSTRAINT fk_supplier_products_company_id_supplier_id_suppliers FOREIGN KEY(company_id, supplier_id) REFERENCES suppliers (company_id, id),
    CONSTRAINT fk_supplier_products_company_id_companies FOREIGN KEY(company_id) REFERENCES companies (id) ON DELETE CASCADE,
    CONSTRAINT uq_supplier_products_company_id_product_id_supplier_id UNIQUE (company_id, product_id, supplier_id)
);

CREATE INDEX ix_supplier_products_company_id_supplier_id ON supplier_products (company_id, supplier_id);

CREATE UNIQUE INDEX uq_supplier_products_one_preferred ON supplier_products (company_id, product_id) WHERE is_preferred;

INSERT INTO alembic_version (version_num) VALUES ('0001') RETURNING alembic_version.version_num;

-- Running upgrade 0001 -> 0002

CREATE TABLE reorder_rules (
    company_id INTEGER NOT NULL,
    product_id INTEGER NOT NULL,
    warehouse_id INTEGER NOT NULL,
    threshold INTEGER NOT NULL,
    reorder_quantity INTEGER,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    CONSTRAINT pk_reorder_rules PRIMARY KEY (company_id, product_id, warehouse_id),
    CONSTRAINT ck_reorder_rules_reorder_quantity_positive CHECK (reorder_quantity IS NULL OR reorder_quantity > 0),
    CONSTRAINT ck_reorder_rules_threshold_non_negative CHECK (threshold >= 0),
    CONSTRAINT fk_reorder_rules_company_id_product_id_products FOREIGN KEY(company_id, product_id) REFERENCES products (company_id, id),
    CONSTRAINT fk_reorder_rules_company_id_warehouse_id_warehouses FOREIGN KEY(company_id, warehouse_id) REFERENCES warehouses (company_id, id),
    CONSTRAINT fk_reorder_rules_company_id_companies FOREIGN KEY(company_id) REFERENCES companies (id) ON DELETE CASCADE
);

CREATE INDEX ix_inventory_ledger_company_timeline ON inventory_ledger (company_id, occurred_at, id);

UPDATE alembic_version SET version_num='0002' WHERE alembic_version.version_num = '0001';

-- Running upgrade 0002 -> 0003

CREATE TABLE change_counters (
    company_id INTEGER NOT NULL,
    slot INTEGER NOT NULL,
    changes BIGINT DEFAULT '0' NOT NULL,
    CONSTRAINT pk_change_counters PRIMARY KEY (company_id, slot),
    CONSTRAINT fk_change_counters_company_id_companies FOREIGN KEY(company_id) REFERENCES companies (id) ON DELETE CASCADE
);

DROP INDEX ix_inventory_ledger_product_movements;

CREATE INDEX ix_inventory_ledger_product_movements ON inventory_ledger (company_id, product_id, warehouse_id, reason, occurred_at) INCLUDE (quantity_change);

UPDATE alembic_version SET version_num='0003' WHERE alembic_version.version_num = '0002';

-- Running upgrade 0003 -> 0004

ALTER TABLE inventory ADD COLUMN alert_threshold INTEGER;

UPDATE inventory SET alert_threshold = COALESCE(
    (SELECT r.threshold FROM reorder_rules r
     WHERE r.company_id = inventory.company_id AND r.product_id = inventory.product_id
       AND r.warehouse_id = inventory.warehouse_id),
    (SELECT COALESCE(p.low_stock_threshold, t.low_stock_threshold,
                     CASE p.product_type WHEN 'fast_moving' THEN 20 WHEN 'regular' THEN 10
                                         WHEN 'slow_moving' THEN 5 ELSE 10 END)
     FROM products p
     LEFT JOIN product_type_thresholds t
         ON t.company_id = p.company_id AND t.product_type = p.product_type
     WHERE p.company_id = inventory.company_id AND p.id = inventory.product_id));

ALTER TABLE inventory ALTER COLUMN alert_threshold SET NOT NULL;

CREATE INDEX ix_inventory_below_threshold ON inventory (company_id, product_id, warehouse_id) WHERE quantity < alert_threshold;

UPDATE alembic_version SET version_num='0004' WHERE alembic_version.version_num = '0003';

-- Running upgrade 0004 -> 0005b

ALTER TABLE inventory_ledger ADD COLUMN txid BIGINT DEFAULT (pg_current_xact_id()::text::bigint);

CREATE INDEX ix_inventory_ledger_company_txid ON inventory_ledger (company_id, txid, id);

UPDATE alembic_version SET version_num='0005b' WHERE alembic_version.version_num = '0004';

-- Running upgrade 0005b -> 0006

ALTER TABLE bundle_components DROP CONSTRAINT fk_bundle_components_company_id_bundle_product_id_products;

ALTER TABLE bundle_components DROP CONSTRAINT fk_bundle_components_company_id_component_product_id_products;

ALTER TABLE inventory DROP CONSTRAINT fk_inventory_company_id_product_id_products;

ALTER TABLE inventory DROP CONSTRAINT fk_inventory_company_id_warehouse_id_warehouses;

ALTER TABLE inventory_ledger DROP CONSTRAINT fk_inventory_ledger_company_id_bundle_product_id_products;

ALTER TABLE inventory_ledger DROP CONSTRAINT fk_inventory_ledger_company_id_product_id_products;

ALTER TABLE inventory_ledger DROP CONSTRAINT fk_inventory_ledger_company_id_supplier_id_suppliers;

ALTER TABLE inventory_ledger DROP CONSTRAINT fk_inventory_ledger_company_id_warehouse_id_warehouses;

ALTER TABLE reorder_rules DROP CONSTRAINT fk_reorder_rules_company_id_product_id_products;

ALTER TABLE reorder_rules DROP CONSTRAINT fk_reorder_rules_company_id_warehouse_id_warehouses;

ALTER TABLE supplier_products DROP CONSTRAINT fk_supplier_products_company_id_product_id_products;

ALTER TABLE supplier_products DROP CONSTRAINT fk_supplier_products_company_id_supplier_id_suppliers;

ALTER TABLE products DROP CONSTRAINT uq_products_company_id_id;

ALTER TABLE products DROP CONSTRAINT pk_products;

ALTER TABLE products ADD CONSTRAINT pk_products PRIMARY KEY (company_id, id);

ALTER TABLE warehouses DROP CONSTRAINT uq_warehouses_company_id_id;

DROP INDEX ix_warehouses_company_id;

ALTER TABLE warehouses DROP CONSTRAINT pk_warehouses;

ALTER TABLE warehouses ADD CONSTRAINT pk_warehouses PRIMARY KEY (company_id, id);

ALTER TABLE suppliers DROP CONSTRAINT uq_suppliers_company_id_id;

DROP INDEX ix_suppliers_company_id;

ALTER TABLE suppliers DROP CONSTRAINT pk_suppliers;

ALTER TABLE suppliers ADD CONSTRAINT pk_suppliers PRIMARY KEY (company_id, id);

ALTER TABLE inventory DROP CONSTRAINT pk_inventory;

ALTER TABLE inventory ADD CONSTRAINT pk_inventory PRIMARY KEY (company_id, id);

ALTER TABLE inventory_ledger DROP CONSTRAINT pk_inventory_ledger;

ALTER TABLE inventory_ledger ADD CONSTRAINT pk_inventory_ledger PRIMARY KEY (company_id, id);

ALTER TABLE supplier_products DROP CONSTRAINT pk_supplier_products;

ALTER TABLE supplier_products ADD CONSTRAINT pk_supplier_products PRIMARY KEY (company_id, id);

ALTER TABLE idempotency_keys DROP CONSTRAINT pk_idempotency_keys;

ALTER TABLE idempotency_keys ADD CONSTRAINT pk_idempotency_keys PRIMARY KEY (company_id, id);

ALTER TABLE bundle_components ADD CONSTRAINT fk_bundle_components_company_id_bundle_product_id_products FOREIGN KEY(company_id, bundle_product_id) REFERENCES products (company_id, id) ON DELETE CASCADE;

ALTER TABLE bundle_components ADD CONSTRAINT fk_bundle_components_company_id_component_product_id_products FOREIGN KEY(company_id, component_product_id) REFERENCES products (company_id, id);

ALTER TABLE inventory ADD CONSTRAINT fk_inventory_company_id_product_id_products FOREIGN KEY(company_id, product_id) REFERENCES products (company_id, id);

ALTER TABLE inventory ADD CONSTRAINT fk_inventory_company_id_warehouse_id_warehouses FOREIGN KEY(company_id, warehouse_id) REFERENCES warehouses (company_id, id);

ALTER TABLE inventory_ledger ADD CONSTRAINT fk_inventory_ledger_company_id_bundle_product_id_products FOREIGN KEY(company_id, bundle_product_id) REFERENCES products (company_id, id);

ALTER TABLE inventory_ledger ADD CONSTRAINT fk_inventory_ledger_company_id_product_id_products FOREIGN KEY(company_id, product_id) REFERENCES products (company_id, id);

ALTER TABLE inventory_ledger ADD CONSTRAINT fk_inventory_ledger_company_id_supplier_id_suppliers FOREIGN KEY(company_id, supplier_id) REFERENCES suppliers (company_id, id);

ALTER TABLE inventory_ledger ADD CONSTRAINT fk_inventory_ledger_company_id_warehouse_id_warehouses FOREIGN KEY(company_id, warehouse_id) REFERENCES warehouses (company_id, id);

ALTER TABLE reorder_rules ADD CONSTRAINT fk_reorder_rules_company_id_product_id_products FOREIGN KEY(company_id, product_id) REFERENCES products (company_id, id);

ALTER TABLE reorder_rules ADD CONSTRAINT fk_reorder_rules_company_id_warehouse_id_warehouses FOREIGN KEY(company_id, warehouse_id) REFERENCES warehouses (company_id, id);

ALTER TABLE supplier_products ADD CONSTRAINT fk_supplier_products_company_id_product_id_products FOREIGN KEY(company_id, product_id) REFERENCES products (company_id, id);

ALTER TABLE supplier_products ADD CONSTRAINT fk_supplier_products_company_id_supplier_id_suppliers FOREIGN KEY(company_id, supplier_id) REFERENCES suppliers (company_id, id);

UPDATE alembic_version SET version_num='0006' WHERE alembic_version.version_num = '0005b';

-- Running upgrade 0006 -> 0007

ALTER TABLE inventory ADD COLUMN window_sales BIGINT DEFAULT '0' NOT NULL;

ALTER TABLE inventory ADD COLUMN window_since TIMESTAMP WITH TIME ZONE;

CREATE INDEX ix_inventory_alert_order ON inventory (company_id, ((CAST(quantity AS BIGINT) * 30) / window_sales), quantity, product_id, warehouse_id) WHERE quantity < alert_threshold AND window_sales > 0;

CREATE INDEX ix_products_not_alerting ON products (company_id, id) WHERE archived_at IS NOT NULL OR is_bundle;

CREATE TABLE alert_state (
    company_id INTEGER NOT NULL,
    as_of DATE NOT NULL,
    CONSTRAINT pk_alert_state PRIMARY KEY (company_id),
    CONSTRAINT fk_alert_state_company_id_companies FOREIGN KEY(company_id) REFERENCES companies (id) ON DELETE CASCADE
);

UPDATE alembic_version SET version_num='0007' WHERE alembic_version.version_num = '0006';

-- Running upgrade 0007 -> 0008

CREATE TABLE purchase_orders (
    id SERIAL NOT NULL,
    company_id INTEGER NOT NULL,
    supplier_id INTEGER NOT NULL,
    warehouse_id INTEGER NOT NULL,
    status VARCHAR(20) DEFAULT 'draft' NOT NULL,
    reference VARCHAR(255),
    notes TEXT,
    expected_at TIMESTAMP WITH TIME ZONE,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    ordered_at TIMESTAMP WITH TIME ZONE,
    received_at TIMESTAMP WITH TIME ZONE,
    cancelled_at TIMESTAMP WITH TIME ZONE,
    CONSTRAINT pk_purchase_orders PRIMARY KEY (company_id, id),
    CONSTRAINT ck_purchase_orders_status_known CHECK (status IN ('draft', 'ordered', 'partially_received', 'received', 'cancelled')),
    CONSTRAINT fk_purchase_orders_company_id_companies FOREIGN KEY(company_id) REFERENCES companies (id) ON DELETE CASCADE,
    CONSTRAINT fk_purchase_orders_company_id_supplier_id_suppliers FOREIGN KEY(company_id, supplier_id) REFERENCES suppliers (company_id, id),
    CONSTRAINT fk_purchase_orders_company_id_warehouse_id_warehouses FOREIGN KEY(company_id, warehouse_id) REFERENCES warehouses (company_id, id)
);

CREATE INDEX ix_purchase_orders_company_id_status ON purchase_orders (company_id, status);

CREATE INDEX ix_purchase_orders_company_id_supplier_id ON purchase_orders (company_id, supplier_id);

CREATE INDEX ix_purchase_orders_company_id_warehouse_id_status ON purchase_orders (company_id, warehouse_id, status);

CREATE TABLE purchase_order_lines (
    id SERIAL NOT NULL,
    company_id INTEGER NOT NULL,
    purchase_order_id INTEGER NOT NULL,
    product_id INTEGER NOT NULL,
    quantity_ordered INTEGER NOT NULL,
    quantity_received INTEGER DEFAULT '0' NOT NULL,
    unit_cost NUMERIC(12, 2),
    CONSTRAINT pk_purchase_order_lines PRIMARY KEY (company_id, id),
    CONSTRAINT ck_purchase_order_lines_quantity_ordered_positive CHECK (quantity_ordered > 0),
    CONSTRAINT ck_purchase_order_lines_quantity_received_non_negative CHECK (quantity_received >= 0),
    CONSTRAINT ck_purchase_order_lines_unit_cost_non_negative CHECK (unit_cost IS NULL OR unit_cost >= 0),
    CONSTRAINT fk_purchase_order_lines_company_id_companies FOREIGN KEY(company_id) REFERENCES companies (id) ON DELETE CASCADE,
    CONSTRAINT fk_purchase_order_lines_purchase_orders FOREIGN KEY(company_id, purchase_order_id) REFERENCES purchase_orders (company_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_purchase_order_lines_company_id_product_id_products FOREIGN KEY(company_id, product_id) REFERENCES products (company_id, id),
    CONSTRAINT uq_purchase_order_lines_order_product UNIQUE (company_id, purchase_order_id, product_id)
);

CREATE INDEX ix_purchase_order_lines_company_id_product_id ON purchase_order_lines (company_id, product_id);

CREATE TABLE lead_time_observations (
    id SERIAL NOT NULL,
    company_id INTEGER NOT NULL,
    supplier_id INTEGER NOT NULL,
    product_id INTEGER NOT NULL,
    purchase_order_id INTEGER NOT NULL,
    days INTEGER NOT NULL,
    observed_at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT pk_lead_time_observations PRIMARY KEY (company_id, id),
    CONSTRAINT ck_lead_time_observations_days_non_negative CHECK (days >= 0),
    CONSTRAINT fk_lead_time_observations_company_id_companies FOREIGN KEY(company_id) REFERENCES companies (id) ON DELETE CASCADE,
    CONSTRAINT fk_lead_time_observations_company_id_supplier_id_suppliers FOREIGN KEY(company_id, supplier_id) REFERENCES suppliers (company_id, id),
    CONSTRAINT fk_lead_time_observations_company_id_product_id_products FOREIGN KEY(company_id, product_id) REFERENCES products (company_id, id),
    CONSTRAINT fk_lead_time_observations_purchase_orders FOREIGN KEY(company_id, purchase_order_id) REFERENCES purchase_orders (company_id, id) ON DELETE CASCADE,
    CONSTRAINT uq_lead_time_observations_order_product UNIQUE (company_id, purchase_order_id, product_id)
);

CREATE INDEX ix_lead_time_observations_link ON lead_time_observations (company_id, supplier_id, product_id, observed_at);

ALTER TABLE inventory_ledger ADD COLUMN purchase_order_id INTEGER;

ALTER TABLE inventory_ledger ADD CONSTRAINT fk_inventory_ledger_purchase_orders FOREIGN KEY(company_id, purchase_order_id) REFERENCES purchase_orders (company_id, id);

UPDATE alembic_version SET version_num='0008' WHERE alembic_version.version_num = '0007';

-- Running upgrade 0008 -> 0009

CREATE TABLE events (
    id BIGSERIAL NOT NULL,
    company_id INTEGER NOT NULL,
    uid VARCHAR(36) NOT NULL,
    type VARCHAR(40) NOT NULL,
    product_id INTEGER,
    warehouse_id INTEGER,
    occurred_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    payload TEXT NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    CONSTRAINT pk_events PRIMARY KEY (company_id, id),
    CONSTRAINT ck_events_type_known CHECK (type IN ('stock.low', 'stock.out', 'stock.recovered', 'purchase_order.received', 'alert.acknowledged', 'ping')),
    CONSTRAINT fk_events_company_id_companies FOREIGN KEY(company_id) REFERENCES companies (id) ON DELETE CASCADE,
    CONSTRAINT uq_events_company_id_uid UNIQUE (company_id, uid)
);

CREATE INDEX ix_events_created_at ON events (created_at);

CREATE TABLE webhook_endpoints (
    id SERIAL NOT NULL,
    company_id INTEGER NOT NULL,
    url VARCHAR(2048) NOT NULL,
    description VARCHAR(500),
    events TEXT NOT NULL,
    enabled BOOLEAN DEFAULT true NOT NULL,
    secret_salt VARCHAR(64) NOT NULL,
    disabled_reason TEXT,
    disabled_at TIMESTAMP WITH TIME ZONE,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    CONSTRAINT pk_webhook_endpoints PRIMARY KEY (company_id, id),
    CONSTRAINT fk_webhook_endpoints_company_id_companies FOREIGN KEY(company_id) REFERENCES companies (id) ON DELETE CASCADE
);

CREATE TABLE webhook_deliveries (
    id BIGSERIAL NOT NULL,
    company_id INTEGER NOT NULL,
    endpoint_id INTEGER NOT NULL,
    event_id BIGINT NOT NULL,
    ordering_key VARCHAR(64),
    status VARCHAR(16) DEFAULT 'pending' NOT NULL,
    attempts INTEGER DEFAULT '0' NOT NULL,
    next_attempt_at TIMESTAMP WITH TIME ZONE NOT NULL,
    last_attempt_at TIMESTAMP WITH TIME ZONE,
    last_status_code INTEGER,
    last_error TEXT,
    delivered_at TIMESTAMP WITH TIME ZONE,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    CONSTRAINT pk_webhook_deliveries PRIMARY KEY (company_id, id),
    CONSTRAINT ck_webhook_deliveries_status_known CHECK (status IN ('pending', 'succeeded', 'failed')),
    CONSTRAINT fk_webhook_deliveries_company_id_companies FOREIGN KEY(company_id) REFERENCES companies (id) ON DELETE CASCADE,
    CONSTRAINT fk_webhook_deliveries_webhook_endpoints FOREIGN KEY(company_id, endpoint_id) REFERENCES webhook_endpoints (company_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_webhook_deliveries_company_id_event_id_events FOREIGN KEY(company_id, event_id) REFERENCES events (company_id, id) ON DELETE CASCADE
);

CREATE INDEX ix_webhook_deliveries_status_next_attempt_at ON webhook_deliveries (status, next_attempt_at);

CREATE INDEX ix_webhook_deliveries_company_id_endpoint_id_id ON webhook_deliveries (company_id, endpoint_id, id);

CREATE INDEX ix_webhook_deliveries_company_id_event_id ON webhook_deliveries (company_id, event_id);

CREATE INDEX ix_webhook_deliveries_pending_order ON webhook_deliveries (company_id, endpoint_id, ordering_key, id) WHERE status = 'pending';

CREATE TABLE webhook_attempts (
    id BIGSERIAL NOT NULL,
    company_id INTEGER NOT NULL,
    delivery_id BIGINT NOT NULL,
    attempted_at TIMESTAMP WITH TIME ZONE NOT NULL,
    status_code INTEGER,
    duration_ms INTEGER,
    error TEXT,
    next_retry_at TIMESTAMP WITH TIME ZONE,
    CONSTRAINT pk_webhook_attempts PRIMARY KEY (company_id, id),
    CONSTRAINT fk_webhook_attempts_company_id_companies FOREIGN KEY(company_id) REFERENCES companies (id) ON DELETE CASCADE,
    CONSTRAINT fk_webhook_attempts_webhook_deliveries FOREIGN KEY(company_id, delivery_id) REFERENCES webhook_deliveries (company_id, id) ON DELETE CASCADE
);

CREATE INDEX ix_webhook_attempts_company_id_delivery_id_id ON webhook_attempts (company_id, delivery_id, id);

UPDATE alembic_version SET version_num='0009' WHERE alembic_version.version_num = '0008';

-- Running upgrade 0009 -> 0010

CREATE TABLE alert_acknowledgements (
    id SERIAL NOT NULL,
    company_id INTEGER NOT NULL,
    product_id INTEGER NOT NULL,
    warehouse_id INTEGER NOT NULL,
    until TIMESTAMP WITH TIME ZONE,
    note TEXT,
    acknowledged_at TIMESTAMP WITH TIME ZONE NOT NULL,
    api_key_id INTEGER,
    acknowledged_by VARCHAR(100) NOT NULL,
    level_at_ack INTEGER NOT NULL,
    stockout_day_at_ack BIGINT,
    CONSTRAINT pk_alert_acknowledgements PRIMARY KEY (company_id, id),
    CONSTRAINT ck_alert_acknowledgements_level_at_ack_non_negative CHECK (level_at_ack >= 0),
    CONSTRAINT fk_alert_acknowledgements_company_id_companies FOREIGN KEY(company_id) REFERENCES companies (id) ON DELETE CASCADE,
    CONSTRAINT fk_alert_acknowledgements_company_id_product_id_products FOREIGN KEY(company_id, product_id) REFERENCES products (company_id, id),
    CONSTRAINT fk_alert_acknowledgements_company_id_warehouse_id_warehouses FOREIGN KEY(company_id, warehouse_id) REFERENCES warehouses (company_id, id),
    CONSTRAINT uq_alert_acknowledgements_company_id_product_id_warehouse_id UNIQUE (company_id, product_id, warehouse_id)
);

CREATE INDEX ix_alert_acknowledgements_company_id_until ON alert_acknowledgements (company_id, until);

UPDATE alembic_version SET version_num='0010' WHERE alembic_version.version_num = '0009';

-- Running upgrade 0010 -> 0011

ALTER TABLE inventory_ledger DROP CONSTRAINT fk_inventory_ledger_company_id_companies;

ALTER TABLE inventory_ledger DROP CONSTRAINT fk_inventory_ledger_company_id_product_id_products;

ALTER TABLE inventory_ledger ADD CONSTRAINT fk_inventory_ledger_company_id_product_id_products FOREIGN KEY(company_id, product_id) REFERENCES products (company_id, id) ON DELETE CASCADE NOT VALID;

ALTER TABLE inventory_ledger VALIDATE CONSTRAINT fk_inventory_ledger_company_id_product_id_products;

UPDATE alembic_version SET version_num='0011' WHERE alembic_version.version_num = '0010';

COMMIT;

