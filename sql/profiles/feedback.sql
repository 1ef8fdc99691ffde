-- Satisfaction, recommendation and complaints per person (same keys as profiles/orders.sql),
-- and referrals: visitors who landed with ?ref=<customer id> in the URL, credited to that customer.
-- All from `shop_events` (humans only; sql/migrations/0005_shop_events.sql).
WITH
links AS (
    SELECT visitor_id, customer_id
    FROM visitor_customers(site_id = {site_id:String}, as_of = {as_of:DateTime64(3, 'UTC')})
),
keyed AS (
    SELECT if(l.customer_id != '', concat('c:', l.customer_id), concat('v:', e.visitor_id)) AS person,
           e.event_type AS event_type, e.ts AS ts, e.satisfaction AS answer, e.nps AS recommend
    FROM shop_events AS e
    LEFT JOIN links AS l ON l.visitor_id = e.visitor_id
    WHERE e.site_id = {site_id:String} AND e.event_type IN ('survey', 'complaint')
      AND e.ts <= {as_of:DateTime64(3, 'UTC')}
    SETTINGS join_use_nulls = 0
),
feedback AS (
    SELECT person,
           toNullable(toFloat64(argMaxIf(answer, ts, answer IS NOT NULL))) AS satisfaction_last,
           avgIf(answer, answer IS NOT NULL) AS satisfaction_avg,
           argMaxIf(recommend, ts, recommend IS NOT NULL) AS nps_last,
           toUInt32(countIf(event_type = 'complaint')) AS complaints,
           toUInt32(0) AS referrals
    FROM keyed
    GROUP BY person
),
referrals AS (
    SELECT concat('c:', referred_by) AS person, toUInt32(uniqExact(visitor_id)) AS referrals
    FROM shop_events
    WHERE site_id = {site_id:String} AND event_type = 'pageview' AND referred_by != ''
      AND ts <= {as_of:DateTime64(3, 'UTC')}
    GROUP BY person
)
SELECT person, any(satisfaction_last) AS satisfaction, any(satisfaction_avg) AS satisfaction_mean, any(nps_last) AS nps,
       toUInt32(sum(complaints)) AS complaints, toUInt32(sum(referrals)) AS referrals
FROM (
    SELECT * FROM feedback
    UNION ALL
    SELECT person, NULL, NULL, NULL, toUInt32(0), referrals FROM referrals
)
GROUP BY person
