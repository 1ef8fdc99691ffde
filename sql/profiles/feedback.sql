-- Satisfaction, recommendation and complaints per person (same keys as profiles/orders.sql),
-- and referrals: visitors who landed with ?ref=<customer id> in the URL, credited to that customer.
-- All from `shop_events` (humans only; sql/migrations/0005_shop_events.sql). {part}, {lo}, {hi}:
-- whose (sql/migrations/0007_profile_people.sql).
WITH
feedback AS (
    SELECT person,
           toNullable(toFloat64(argMaxIf(satisfaction, ts, satisfaction IS NOT NULL))) AS satisfaction_last,
           avgIf(satisfaction, satisfaction IS NOT NULL) AS satisfaction_avg,
           argMaxIf(nps, ts, nps IS NOT NULL) AS nps_last,
           toUInt32(countIf(event_type = 'complaint')) AS complaints,
           toUInt32(0) AS referrals
    FROM profile_events(site_id = {site_id:String}, as_of = {as_of:DateTime64(3, 'UTC')}, part = {part:UInt8},
                        lo = {lo:String}, hi = {hi:String})
    WHERE event_type IN ('survey', 'complaint')
    GROUP BY person
),
referrals AS (
    SELECT concat('c:', referred_by) AS person, toUInt32(uniqExact(visitor_id)) AS referrals
    FROM shop_events
    WHERE site_id = {site_id:String} AND event_type = 'pageview' AND referred_by != ''
      AND ts <= {as_of:DateTime64(3, 'UTC')}
      AND ({part:UInt8} = 0 OR referred_by IN (
          SELECT customer_id FROM profile_customers(site_id = {site_id:String}, as_of = {as_of:DateTime64(3, 'UTC')},
                                                    part = {part:UInt8}, lo = {lo:String}, hi = {hi:String})))
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
