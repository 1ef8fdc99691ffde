-- The purchase histories the customer value model is fitted on (profiles/value.py), counted:
-- per buyer of the site, x (repeat purchase days), t_x (first to last purchase day), T (first
-- purchase day to {as_of_day}, days since 1970 in UTC) and m (mean spend per repeat purchase
-- day), and how many buyers share them. Buyers with one purchase day share a few hundred
-- (x, t_x, T), so the job holds about one row per repeat buyer, not one per buyer.
WITH
days AS (
    SELECT person, day, spend, min(day) OVER (PARTITION BY person) AS first_day
    FROM (
        SELECT person, intDiv(toUnixTimestamp64Milli(ts), 86400000) AS day, sum(amount) AS spend
        FROM profile_orders(site_id = {site_id:String}, as_of = {as_of:DateTime64(3, 'UTC')}, part = 0, lo = '',
                            hi = '')
        GROUP BY person, day
    )
),
buyers AS (
    SELECT toInt64(count() - 1) AS x, toInt64(max(day) - any(first_day)) AS t_x,
           toInt64({as_of_day:Int64} - any(first_day)) AS T, sumIf(spend, day > first_day) AS repeat_spend
    FROM days
    GROUP BY person
)
SELECT x, t_x, T, if(x > 0, repeat_spend / x, NULL) AS m, toUInt32(count()) AS weight
FROM buyers
GROUP BY x, t_x, T, m
ORDER BY x, t_x, T, m
