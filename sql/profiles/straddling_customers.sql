-- Customers whose devices may fall in several buckets of a bucketed profiles run: those with more
-- than one visitor id, with their lowest and highest. Asked once per run: the job cuts it at
-- each bucket's upper bound (a customer straddles {hi} when first_device < hi <= last_device)
-- and keeps the visit rows of their devices until the bucket of their last device, where their
-- customer profile is built (profiles/buckets.py). Grouping every link of the site per bucket
-- instead held a hash table of every customer in each bucket's step.
SELECT customer_id, min(visitor_id) AS first_device, max(visitor_id) AS last_device
FROM visitor_customers(site_id = {site_id:String}, as_of = {as_of:DateTime64(3, 'UTC')})
WHERE customer_id != ''
GROUP BY customer_id
HAVING first_device < last_device
