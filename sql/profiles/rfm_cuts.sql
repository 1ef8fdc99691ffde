-- Where a site's RFM scores change (profiles/rfm.py): for each of recency (as minus the days,
-- so that higher is better), frequency and monetary, each score given and the lowest value that
-- gets it. The score is the one of rank among every buyer of the site (equal values share
-- their average rank): 1 + floor((rank - 0.5) * 5 / buyers), within 1..5. Asked once per run
-- so that each bucket scores its own buyers against the whole site without holding them all.
-- The values are the job's own (profiles/lifecycle.py): days from the last purchase to
-- {as_of_ms} (whole days), distinct UTC purchase days, revenue rounded to the cent.
WITH
buyers AS (
    SELECT intDiv({as_of_ms:Int64} - toUnixTimestamp64Milli(max(ts)), 86400000) AS recency_days,
           uniqExact(toDate(ts)) AS frequency,
           round(sum(amount), 2) AS monetary
    FROM profile_orders(site_id = {site_id:String}, as_of = {as_of:DateTime64(3, 'UTC')}, part = 0, lo = '', hi = '')
    GROUP BY person
),
keyed AS (
    SELECT dimension, key, count() AS equal
    FROM buyers
    ARRAY JOIN ['r', 'f', 'm'] AS dimension,
               [-toFloat64(recency_days), toFloat64(frequency), monetary] AS key
    GROUP BY dimension, key
),
ranked AS (
    SELECT dimension, key,
           sum(equal) OVER (PARTITION BY dimension ORDER BY key ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
               - equal + (equal + 1) / 2 AS average_rank,
           sum(equal) OVER (PARTITION BY dimension) AS everyone
    FROM keyed
)
SELECT dimension, toUInt8(least(5, greatest(1, 1 + floor((average_rank - 0.5) * 5 / everyone)))) AS score,
       min(key) AS lowest
FROM ranked
GROUP BY dimension, score
ORDER BY dimension, score
