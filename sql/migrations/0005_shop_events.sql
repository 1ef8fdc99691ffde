-- The few events the loyalty numbers read — purchases, surveys, complaints, and page views that
-- landed from a customer's ?ref= link — copied apart by a materialized view. In `events` they are
-- about 1% of the rows but spread over every granule of its (site, visitor, time) order, so any
-- query for them reads every granule's columns; here they sit together in (site, type, time)
-- order and the profiles job reads only them. Humans only: bots never count in these numbers.
-- The view only sees inserts, so the last statement copies what `events` already held. The
-- view's SELECT and that copy must stay the same (ClickHouse cannot trigger a view on a view).
-- Retention: the same TTL as `events` (sql/queries/shop_events_set_ttl.sql).
CREATE TABLE IF NOT EXISTS shop_events
(
    site_id       LowCardinality(String),
    event_type    LowCardinality(String),
    visitor_id    String,
    customer_id   String,
    ts            DateTime64(3, 'UTC'),
    order_id      String,
    revenue       Nullable(Float64),
    items         String,
    satisfaction  Nullable(UInt8),
    nps           Nullable(UInt8),
    referred_by   String COMMENT 'page views: the customer id of the ?ref= link the visitor landed from'
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (site_id, event_type, ts);

CREATE MATERIALIZED VIEW IF NOT EXISTS shop_events_from_events TO shop_events AS
SELECT site_id, event_type, visitor_id, customer_id, ts, order_id, revenue, items, satisfaction, nps,
       if(event_type = 'pageview', extractURLParameter(url, 'ref'), '') AS referred_by
FROM events
WHERE is_bot = 0
  AND (event_type IN ('purchase', 'survey', 'complaint')
       OR (event_type = 'pageview' AND position(url, 'ref=') > 0 AND extractURLParameter(url, 'ref') != ''));

INSERT INTO shop_events
SELECT site_id, event_type, visitor_id, customer_id, ts, order_id, revenue, items, satisfaction, nps,
       if(event_type = 'pageview', extractURLParameter(url, 'ref'), '') AS referred_by
FROM events
WHERE is_bot = 0
  AND (event_type IN ('purchase', 'survey', 'complaint')
       OR (event_type = 'pageview' AND position(url, 'ref=') > 0 AND extractURLParameter(url, 'ref') != ''))
