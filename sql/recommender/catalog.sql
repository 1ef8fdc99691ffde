-- What can be recommended: listed products (import-catalog), completed by products seen in
-- product views (latest rubrique, price, URL, and `props.name`). A product first seen within
-- {novelty_days} of {as_of}, or flagged new, is a new arrival.
WITH
seen AS (
    SELECT product_id,
           argMaxIf(rubrique, ts, rubrique != '') AS rubrique,
           argMaxIf(price, ts, price IS NOT NULL) AS price,
           argMax(url, ts) AS url,
           argMaxIf(JSONExtractString(props, 'name'), ts, JSONExtractString(props, 'name') != '') AS name,
           min(ts) AS first_seen
    FROM events
    WHERE site_id = {site_id:String} AND event_type = 'product_view' AND product_id != '' AND is_bot = 0
      AND ts <= {as_of:DateTime64(3, 'UTC')}
    GROUP BY product_id
),
listed AS (
    SELECT product_id, name, rubrique, price, url, in_stock, is_new
    FROM products FINAL
    WHERE site_id = {site_id:String}
)
SELECT
    if(l.product_id != '', l.product_id, s.product_id) AS product_id,
    if(l.name != '', l.name, s.name) AS name,
    toString(if(l.rubrique != '', l.rubrique, s.rubrique)) AS rubrique,
    if(l.price IS NOT NULL, l.price, s.price) AS price,
    if(l.url != '', l.url, s.url) AS url,
    if(l.product_id != '', l.in_stock, 1) AS in_stock,
    toUInt8(l.is_new = 1 OR (s.first_seen IS NOT NULL
            AND s.first_seen > {as_of:DateTime64(3, 'UTC')} - toIntervalDay({novelty_days:UInt32}))) AS is_new
FROM listed AS l
FULL OUTER JOIN seen AS s ON l.product_id = s.product_id
SETTINGS join_use_nulls = 0
