-- Time-decayed popularity per product over the last {window_days}: a view counts 1, an add to
-- cart 3, a purchased unit 10, halved every {half_life_days} before {as_of}. Bots excluded.
SELECT product_id,
       round(sum(weight * exp2(-dateDiff('second', ts, {as_of:DateTime64(3, 'UTC')}) / ({half_life_days:Float64} * 86400))),
             6) AS popularity,
       toUInt32(countIf(weight = 10)) AS purchases
FROM (
    SELECT product_id, ts, if(event_type = 'add_to_cart', 3.0, 1.0) AS weight
    FROM events
    WHERE site_id = {site_id:String} AND product_id != '' AND event_type IN ('product_view', 'add_to_cart')
      AND is_bot = 0 AND ts <= {as_of:DateTime64(3, 'UTC')}
      AND ts > {as_of:DateTime64(3, 'UTC')} - toIntervalDay({window_days:UInt32})
    UNION ALL
    SELECT tupleElement(item, 'product_id') AS product_id, ts, 10.0 AS weight
    FROM events
    ARRAY JOIN JSONExtract(items, 'Array(Tuple(product_id String))') AS item
    WHERE site_id = {site_id:String} AND event_type = 'purchase' AND items != '' AND is_bot = 0
      AND ts <= {as_of:DateTime64(3, 'UTC')}
      AND ts > {as_of:DateTime64(3, 'UTC')} - toIntervalDay({window_days:UInt32})
)
WHERE product_id != ''
GROUP BY product_id
