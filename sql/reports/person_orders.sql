-- Orders up to {to} with their person (customer id, or the visitor for one who never identified),
-- tracked or imported, each order once: the base of attrition, basket and frequency.
-- Purchases, surveys, complaints and ?ref= landings come from `shop_events` (humans only,
-- sql/migrations/0005_shop_events.sql): 1% of the rows, instead of every granule of `events`.
WITH
links AS (
    SELECT visitor_id, customer_id
    FROM visitor_customers(site_id = {site_id:String}, as_of = {to:DateTime64(3, 'UTC')})
),
tracked AS (
    SELECT if(l.customer_id != '', concat('c:', l.customer_id), concat('v:', e.visitor_id)) AS person,
           e.order_id AS order_id, e.ts AS ts, ifNull(e.revenue, 0) AS amount, e.items AS items, 0 AS source
    FROM shop_events AS e LEFT JOIN links AS l ON l.visitor_id = e.visitor_id
    WHERE e.site_id = {site_id:String} AND e.event_type = 'purchase' AND e.ts < {to:DateTime64(3, 'UTC')}
    SETTINGS join_use_nulls = 0
),
imported AS (
    SELECT concat('c:', customer_id) AS person, order_id, ordered_at AS ts, amount, items, 1 AS source
    FROM imported_orders FINAL
    WHERE site_id = {site_id:String} AND ordered_at < {to:DateTime64(3, 'UTC')}
)
SELECT order_id, argMax(person, source) AS person, argMax(ts, source) AS ts, argMax(amount, source) AS amount,
       argMax(items, source) AS items
FROM (SELECT * FROM tracked UNION ALL SELECT * FROM imported)
GROUP BY order_id
