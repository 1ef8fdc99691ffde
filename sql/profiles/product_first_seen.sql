-- When each product first appeared in the shop's events: a purchase within the novelty window
-- after that counts as trying a new product (lifecycle stage "supporter").
SELECT product_id, min(ts) AS first_seen
FROM events
WHERE site_id = {site_id:String} AND product_id != '' AND ts <= {as_of:DateTime64(3, 'UTC')}
GROUP BY product_id
