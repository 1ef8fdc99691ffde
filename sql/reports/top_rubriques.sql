-- Per rubrique over [{from}, {to}) and over [{previous}, {from}), the period of the same length before:
-- page views, unique visitors, product views, adds to cart, orders holding one of its
-- products, the revenue of those lines (price × quantity), and conversion = visitors who
-- bought in the rubrique / visitors of the rubrique. Bots excluded.
--
-- Visitors of a rubrique are counted on a 128-bit key made of two 64-bit hashes of the id
-- (see visitors.sql): uniqExact of a string SipHashes every row (~8M here), about half of
-- this query's time; a UInt128 goes into the set as it is.
-- The purchase lines come from `shop_events` (humans only, sql/migrations/0005_shop_events.sql).
WITH
lines AS (
    SELECT visitor_id, ts, order_id, tupleElement(item, 'rubrique') AS rubrique,
           tupleElement(item, 'price') * greatest(tupleElement(item, 'quantity'), 1) AS amount
    FROM shop_events
    ARRAY JOIN JSONExtract(items, 'Array(Tuple(rubrique String, price Float64, quantity UInt32))') AS item
    WHERE site_id = {site_id:String} AND event_type = 'purchase' AND items != ''
      AND ts >= {previous:DateTime64(3, 'UTC')} AND ts < {to:DateTime64(3, 'UTC')}
),
activity AS (
    SELECT rubrique, ts >= {from:DateTime64(3, 'UTC')} AS current,
           countIf(event_type = 'pageview') AS pageviews,
           uniqExact(bitOr(bitShiftLeft(toUInt128(cityHash64(visitor_id)), 64), toUInt128(xxHash64(visitor_id))))
               AS visitors,
           countIf(event_type = 'product_view') AS product_views,
           countIf(event_type = 'add_to_cart') AS add_to_cart
    FROM events
    WHERE site_id = {site_id:String} AND is_bot = 0 AND rubrique != ''
      AND ts >= {previous:DateTime64(3, 'UTC')} AND ts < {to:DateTime64(3, 'UTC')}
    GROUP BY rubrique, current
),
sales AS (
    SELECT rubrique, ts >= {from:DateTime64(3, 'UTC')} AS current, uniqExact(order_id) AS orders,
           round(sum(amount), 2) AS revenue, uniqExact(visitor_id) AS buyers
    FROM lines
    WHERE rubrique != ''
    GROUP BY rubrique, current
),
joined AS (
    SELECT if(a.rubrique != '', a.rubrique, s.rubrique) AS rub, if(a.rubrique != '', a.current, s.current) AS cur,
           a.pageviews AS pv, a.visitors AS vis, a.product_views AS pvw, a.add_to_cart AS atc, s.orders AS ord,
           s.revenue AS rev, s.buyers AS buy
    FROM activity AS a
    FULL OUTER JOIN sales AS s ON a.rubrique = s.rubrique AND a.current = s.current
    SETTINGS join_use_nulls = 0
)
SELECT rub AS rubrique,
       sumIf(pv, cur) AS pageviews,
       sumIf(vis, cur) AS unique_visitors,
       sumIf(pvw, cur) AS product_views,
       sumIf(atc, cur) AS add_to_cart,
       sumIf(ord, cur) AS purchases,
       round(sumIf(rev, cur), 2) AS revenue,
       round(if(sumIf(vis, cur) > 0, sumIf(buy, cur) / sumIf(vis, cur), 0), 4) AS conversion,
       sumIf(pv, NOT cur) AS pageviews_previous,
       sumIf(vis, NOT cur) AS unique_visitors_previous,
       sumIf(ord, NOT cur) AS purchases_previous,
       round(sumIf(rev, NOT cur), 2) AS revenue_previous
FROM joined
GROUP BY rub
ORDER BY pageviews DESC, rubrique
