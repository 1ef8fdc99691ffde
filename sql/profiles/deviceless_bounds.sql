-- Where to cut a site's customers without a device (orders or referrals, no identified visitor:
-- imported history only) into chunks for the profiles job's last step (profiles/buckets.py), as
-- bucket_bounds.sql does for visitors: their number and a sorted sample of their ids, about
-- {sample_size} of them, spread by hash.
WITH
deviceless AS (
    SELECT customer_id
    FROM profile_customers(site_id = {site_id:String}, as_of = {as_of:DateTime64(3, 'UTC')}, part = 2, lo = '', hi = '')
),
(SELECT count() FROM deviceless) AS customers
SELECT customers, customer_id
FROM deviceless
WHERE cityHash64(customer_id) % greatest(1, intDiv(customers, {sample_size:UInt32})) = 0
ORDER BY customer_id
