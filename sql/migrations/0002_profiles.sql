-- Past orders loaded by `fidelia import-orders`, so a shop's history counts from day one.
-- ReplacingMergeTree on (site_id, order_id): re-importing the same file changes nothing.
CREATE TABLE IF NOT EXISTS imported_orders
(
    site_id      LowCardinality(String),
    order_id     String,
    customer_id  String,
    ordered_at   DateTime64(3, 'UTC'),
    amount       Float64,
    items        String COMMENT 'JSON array of {product_id, price, quantity, rubrique}, may be empty',
    imported_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(imported_at)
ORDER BY (site_id, order_id);

-- One row per visitor (public: ../shared/DESIGN.md "Profile"), rebuilt by the profiles job.
-- ReplacingMergeTree on updated_at: a rebuild inserts new versions, merges keep the latest;
-- read with FINAL for exact answers. A profile that must go (a customer whose devices moved
-- to another customer, an erased visitor) gets a newer row with is_deleted = 1, which FINAL
-- leaves out. last_visits and interests are JSON arrays.
CREATE TABLE IF NOT EXISTS visitor_profiles
(
    site_id            LowCardinality(String),
    visitor_id         String,
    customer_id        String,
    first_seen         DateTime64(3, 'UTC'),
    last_seen          DateTime64(3, 'UTC'),
    visits             UInt32,
    pageviews          UInt32,
    returning          UInt8,
    last_visits        String COMMENT 'JSON [{start, pages, rubriques}], most recent first',
    interests          String COMMENT 'JSON [{rubrique, score}], highest score first',
    recent_products    Array(String) COMMENT 'products viewed or put in the cart, most recent first (10 at most)',
    purchased_products String COMMENT 'JSON [{product_id, at}]: what the customer bought, latest first',
    recency_days       Nullable(Int32) COMMENT 'days since the last purchase, null for a prospect',
    frequency          UInt32 COMMENT 'distinct days with a purchase',
    monetary           Float64 COMMENT 'revenue over all purchases',
    orders             UInt32,
    avg_basket         Nullable(Float64),
    orders_per_month   Nullable(Float64),
    rfm_r              Nullable(UInt8),
    rfm_f              Nullable(UInt8),
    rfm_m              Nullable(UInt8),
    rfm_segment        LowCardinality(String),
    lifecycle_stage    LowCardinality(String),
    lost               UInt8 COMMENT 'a customer with no purchase within the attrition window',
    p_alive            Nullable(Float64),
    predicted_clv      Nullable(Float64),
    satisfaction       Nullable(Float64) COMMENT 'latest survey answer, 1 to 5',
    satisfaction_mean  Nullable(Float64),
    nps                Nullable(UInt8) COMMENT 'latest recommendation answer, 0 to 10',
    complaints         UInt32,
    as_of              DateTime64(3, 'UTC'),
    updated_at         DateTime64(3, 'UTC'),
    is_deleted         UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(updated_at, is_deleted)
ORDER BY (site_id, visitor_id);

-- The same per identified customer, across all the visitor ids (devices) linked to them.
CREATE TABLE IF NOT EXISTS customer_profiles
(
    site_id            LowCardinality(String),
    customer_id        String,
    visitor_ids        Array(String),
    first_seen         Nullable(DateTime64(3, 'UTC')),
    last_seen          Nullable(DateTime64(3, 'UTC')),
    visits             UInt32,
    pageviews          UInt32,
    returning          UInt8,
    last_visits        String,
    interests          String,
    recent_products    Array(String),
    purchased_products String,
    recency_days       Nullable(Int32),
    frequency          UInt32,
    monetary           Float64,
    orders             UInt32,
    avg_basket         Nullable(Float64),
    orders_per_month   Nullable(Float64),
    rfm_r              Nullable(UInt8),
    rfm_f              Nullable(UInt8),
    rfm_m              Nullable(UInt8),
    rfm_segment        LowCardinality(String),
    lifecycle_stage    LowCardinality(String),
    lost               UInt8,
    p_alive            Nullable(Float64),
    predicted_clv      Nullable(Float64),
    satisfaction       Nullable(Float64),
    satisfaction_mean  Nullable(Float64),
    nps                Nullable(UInt8),
    complaints         UInt32,
    as_of              DateTime64(3, 'UTC'),
    updated_at         DateTime64(3, 'UTC'),
    is_deleted         UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(updated_at, is_deleted)
ORDER BY (site_id, customer_id)
;

-- When ClickHouse stored each event. The profiles job's watermark is on this column, not on
-- received_at: an event replayed from the spool was received long before it was stored.
ALTER TABLE events ADD COLUMN IF NOT EXISTS inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
