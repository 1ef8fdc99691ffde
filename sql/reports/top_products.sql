-- Products in [{from}, {to}): views, adds to cart, orders holding the product, units bought and
-- their revenue, and conversion = orders / views. Names from the catalog. Bots excluded.
-- The purchase lines come from `shop_events` (humans only, sql/migrations/0005_shop_events.sql).
WITH
activity AS (
    SELECT product_id, any(rubrique) AS rubrique, countIf(event_type = 'product_view') AS views,
           countIf(event_type = 'add_to_cart') AS add_to_cart
    FROM events
    WHERE site_id = {site_id:String} AND is_bot = 0 AND product_id != ''
      AND ts >= {from:DateTime64(3, 'UTC')} AND ts < {to:DateTime64(3, 'UTC')}
    GROUP BY product_id
),
sales AS (
    SELECT tupleElement(item, 'product_id') AS product_id,
           uniqExact(order_id) AS orders,
           sum(greatest(tupleElement(item, 'quantity'), 1)) AS units,
           round(sum(tupleElement(item, 'price') * greatest(tupleElement(item, 'quantity'), 1)), 2) AS revenue
    FROM shop_events
    ARRAY JOIN JSONExtract(items, 'Array(Tuple(product_id String, price Float64, quantity UInt32))') AS item
    WHERE site_id = {site_id:String} AND event_type = 'purchase' AND items != ''
      AND ts >= {from:DateTime64(3, 'UTC')} AND ts < {to:DateTime64(3, 'UTC')}
    GROUP BY product_id
),
names AS (
    SELECT product_id, name FROM products FINAL WHERE site_id = {site_id:String}
),
combined AS (
    SELECT if(a.product_id != '', a.product_id, s.product_id) AS pid, a.rubrique AS rubrique, a.views AS views,
           a.add_to_cart AS add_to_cart, s.orders AS purchases, s.units AS units, s.revenue AS revenue
    FROM activity AS a
    FULL OUTER JOIN sales AS s ON a.product_id = s.product_id
    SETTINGS join_use_nulls = 0
)
SELECT c.pid AS product_id, n.name AS name, c.rubrique AS rubrique, c.views AS views, c.add_to_cart AS add_to_cart,
       c.purchases AS purchases, c.units AS units, c.revenue AS revenue,
       round(if(c.views > 0, c.purchases / c.views, 0), 4) AS conversion
FROM combined AS c
LEFT JOIN names AS n ON n.product_id = c.pid
ORDER BY revenue DESC, views DESC, product_id
LIMIT {limit:UInt32}
SETTINGS join_use_nulls = 0
