-- The raw event log: one row per event the collector accepted. Analysts query it directly,
-- so column names are part of the public contract (../shared/DESIGN.md, "Events table").
--
-- Sort key starts with the tenant (site_id) then the visitor then time: the profiles job
-- reads one site's visitors in order, and erasure deletes one visitor's rows, both ranges
-- of this key. Monthly partitions keep TTL drops and back-fills cheap.
-- LowCardinality on enum-like strings (a few hundred distinct values at most).
-- non_replicated_deduplication_window: the writer tags every insert with the id of its
-- spool segment, so replaying a segment that had in fact been stored is a no-op
-- (exactly-once delivery across store outages and restarts).
-- The TTL is set by `fidelia migrate` from FIDELIA_RETENTION_DAYS (sql/queries/events_set_ttl.sql).
CREATE TABLE IF NOT EXISTS events
(
    event_id      UUID,
    ts            DateTime64(3, 'UTC'),
    received_at   DateTime64(3, 'UTC'),
    site_id       LowCardinality(String),
    visitor_id    String,
    session_id    String,
    customer_id   String,
    event_type    LowCardinality(String),
    url           String,
    path          String,
    referrer      String,
    utm_source    LowCardinality(String),
    utm_medium    LowCardinality(String),
    utm_campaign  LowCardinality(String),
    rubrique      LowCardinality(String),
    product_id    String,
    price         Nullable(Float64),
    quantity      Nullable(UInt32),
    order_id      String,
    revenue       Nullable(Float64),
    items         String COMMENT 'JSON array of {product_id, price, quantity, rubrique} for cart and purchase events',
    search_query  String,
    satisfaction  Nullable(UInt8) COMMENT 'survey: 1 (very unhappy) to 5 (very happy)',
    nps           Nullable(UInt8) COMMENT 'survey: likelihood to recommend, 0 to 10',
    browser       LowCardinality(String),
    os            LowCardinality(String),
    device_type   LowCardinality(String) COMMENT 'desktop, mobile, tablet, bot or other',
    is_bot        UInt8,
    consent       LowCardinality(String),
    props         String COMMENT 'JSON object of extra properties sent with the event'
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (site_id, visitor_id, ts)
SETTINGS non_replicated_deduplication_window = 10000;

-- Which customer a visitor id belongs to, filled by `identify` events. Latest link wins
-- (ReplacingMergeTree on linked_at), so a shared device moves to the last customer who
-- logged in on it.
CREATE TABLE IF NOT EXISTS identity_links
(
    site_id      LowCardinality(String),
    visitor_id   String,
    customer_id  String,
    linked_at    DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(linked_at)
ORDER BY (site_id, visitor_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS identity_links_from_events TO identity_links AS
SELECT site_id, visitor_id, customer_id, ts AS linked_at
FROM events
WHERE event_type = 'identify' AND customer_id != '';

-- The events with customer_id resolved through the identity links: an `identify` covers the
-- visitor's earlier anonymous visits as well as the later ones, so a customer is counted once
-- across all of them. Same columns as `events`.
CREATE VIEW IF NOT EXISTS events_identified AS
SELECT e.* REPLACE (if(e.customer_id != '', e.customer_id, l.customer_id) AS customer_id)
FROM events AS e
LEFT JOIN
(
    SELECT site_id, visitor_id, argMax(customer_id, linked_at) AS customer_id
    FROM identity_links
    GROUP BY site_id, visitor_id
) AS l ON e.site_id = l.site_id AND e.visitor_id = l.visitor_id;

-- Small key/value facts about the store itself (applied retention, job watermarks).
CREATE TABLE IF NOT EXISTS fidelia_meta
(
    key         String,
    value       String,
    updated_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY key;
