-- Customers with devices on both sides of a bucket's upper bound {hi} in a bucketed profiles run
-- (visitor ids below {hi} and from {hi} on): the job keeps the visit rows of their devices until
-- the bucket of their last device, where their customer profile is built (profiles/buckets.py).
-- A few per thousand visitors in the simulated shop; none for the last bucket ({hi} = '').
SELECT customer_id
FROM visitor_customers(site_id = {site_id:String}, as_of = {as_of:DateTime64(3, 'UTC')})
WHERE customer_id != '' AND {hi:String} != ''
GROUP BY customer_id
HAVING min(visitor_id) < {hi:String} AND max(visitor_id) >= {hi:String}
