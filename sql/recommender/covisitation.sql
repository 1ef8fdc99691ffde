-- Item-to-item co-visitation: products viewed or carted in the same visit (weight 1) or bought in
-- the same order (weight 3) over the last {window_days}: the score of every ordered pair;
-- recommender/train.py keeps the top neighbours of each product.
-- Sessions with more than 50 products (crawls that slipped through) are left out.
-- Two ARRAY JOIN clauses in a row give every ordered pair of a visit's products.
-- A bucketed profiles run ({bucketed} = 1) asks for one bucket of visitors at a time, ids in
-- [{lo}, {hi}) as in sql/profiles/visits.sql, and adds the scores up: a visit and an order
-- belong to one visitor, so the sums are the site's, and the grouping by visit, whose memory
-- grew with the shop, follows the bucket.
WITH
sessions AS (
    SELECT groupUniqArray(product_id) AS products, 1.0 AS weight
    FROM events
    WHERE site_id = {site_id:String} AND product_id != '' AND event_type IN ('product_view', 'add_to_cart')
      AND is_bot = 0 AND ts <= {as_of:DateTime64(3, 'UTC')}
      AND ts > {as_of:DateTime64(3, 'UTC')} - toIntervalDay({window_days:UInt32})
      AND ({bucketed:UInt8} = 0 OR (visitor_id >= {lo:String} AND ({hi:String} = '' OR visitor_id < {hi:String})))
    GROUP BY visitor_id, session_id
    HAVING length(products) BETWEEN 2 AND 50
),
baskets AS (
    SELECT arrayDistinct(arrayMap(i -> tupleElement(i, 'product_id'),
                                  JSONExtract(items, 'Array(Tuple(product_id String))'))) AS products, 3.0 AS weight
    FROM events
    WHERE site_id = {site_id:String} AND event_type = 'purchase' AND items != '' AND is_bot = 0
      AND ts <= {as_of:DateTime64(3, 'UTC')}
      AND ts > {as_of:DateTime64(3, 'UTC')} - toIntervalDay({window_days:UInt32})
      AND ({bucketed:UInt8} = 0 OR (visitor_id >= {lo:String} AND ({hi:String} = '' OR visitor_id < {hi:String})))
)
SELECT a AS product_id, b AS neighbour, sum(weight) AS score
FROM (SELECT products, weight FROM sessions UNION ALL SELECT products, weight FROM baskets WHERE length(products) > 1)
ARRAY JOIN products AS a
ARRAY JOIN products AS b
WHERE a != b AND a != '' AND b != ''
GROUP BY a, b
