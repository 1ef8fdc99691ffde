-- Offline evaluation: each visitor's products after the split (viewed or bought), and the ones
-- they had already seen before it (left out of the targets: the test is about new products).
SELECT visitor_id,
       groupUniqArrayIf(product_id, ts > {split:DateTime64(3, 'UTC')} AND event_type = 'product_view') AS viewed_after,
       arrayDistinct(arrayFlatten(groupArrayIf(
           arrayMap(i -> tupleElement(i, 'product_id'), JSONExtract(items, 'Array(Tuple(product_id String))')),
           ts > {split:DateTime64(3, 'UTC')} AND event_type = 'purchase'))) AS bought_after,
       groupUniqArrayIf(product_id, ts <= {split:DateTime64(3, 'UTC')} AND product_id != '') AS seen_before
FROM events
WHERE site_id = {site_id:String} AND is_bot = 0
GROUP BY visitor_id
HAVING length(viewed_after) + length(bought_after) > 0
