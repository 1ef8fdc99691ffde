-- Every order up to {as_of}, one row each, with the person it belongs to: 'c:' + customer id
-- for a visitor linked by identify (or an imported order), else 'v:' + visitor id.
-- An order both tracked and imported counts once; the import wins (it names the customer).
-- Tracked purchases come from `shop_events` (humans only; sql/migrations/0005_shop_events.sql).
WITH
links AS (
    SELECT visitor_id, customer_id
    FROM visitor_customers(site_id = {site_id:String}, as_of = {as_of:DateTime64(3, 'UTC')})
),
tracked AS (
    SELECT if(l.customer_id != '', concat('c:', l.customer_id), concat('v:', e.visitor_id)) AS person,
           e.order_id AS order_id, e.ts AS ts, ifNull(e.revenue, 0) AS amount, e.items AS items, 0 AS source
    FROM shop_events AS e
    LEFT JOIN links AS l ON l.visitor_id = e.visitor_id
    WHERE e.site_id = {site_id:String} AND e.event_type = 'purchase' AND e.ts <= {as_of:DateTime64(3, 'UTC')}
    SETTINGS join_use_nulls = 0
),
imported AS (
    SELECT concat('c:', customer_id) AS person, order_id, ordered_at AS ts, amount, items, 1 AS source
    FROM imported_orders FINAL
    WHERE site_id = {site_id:String} AND ordered_at <= {as_of:DateTime64(3, 'UTC')}
),
orders AS (
    SELECT order_id, argMax(person, source) AS person, argMax(ts, source) AS ts, argMax(amount, source) AS amount,
           argMax(items, source) AS items
    FROM (SELECT * FROM tracked UNION ALL SELECT * FROM imported)
    GROUP BY order_id
)
SELECT person, order_id, ts, amount,
       arrayMap(i -> tupleElement(i, 'product_id'),
                JSONExtract(items, 'Array(Tuple(product_id String, rubrique String))')) AS products,
       arrayMap(i -> tupleElement(i, 'rubrique'),
                JSONExtract(items, 'Array(Tuple(product_id String, rubrique String))')) AS rubriques
FROM orders
