-- What the lifecycle stages need from feedback, at both ends of the period in one pass: per
-- person, the latest recommendation answer (NPS 0–10) up to {start} and up to {to}, and the
-- visitors they referred (landed with ?ref=<customer id>) up to each. Keys as in
-- profiles/feedback.sql, with the identify links as of each end, so the numbers are those of
-- that query run twice, for one scan of the events instead of two.
-- Purchases, surveys, complaints and ?ref= landings come from `shop_events` (humans only,
-- sql/migrations/0005_shop_events.sql): 1% of the rows, instead of every granule of `events`.
WITH
links_start AS (
    SELECT visitor_id, customer_id
    FROM visitor_customers(site_id = {site_id:String}, as_of = {start:DateTime64(3, 'UTC')})
),
links_end AS (
    SELECT visitor_id, customer_id
    FROM visitor_customers(site_id = {site_id:String}, as_of = {to:DateTime64(3, 'UTC')})
),
answers AS (
    SELECT e.ts AS ts, e.nps AS recommend,
           if(ls.customer_id != '', concat('c:', ls.customer_id), concat('v:', e.visitor_id)) AS person_start,
           if(le.customer_id != '', concat('c:', le.customer_id), concat('v:', e.visitor_id)) AS person_end
    FROM shop_events AS e
    LEFT JOIN links_start AS ls ON ls.visitor_id = e.visitor_id
    LEFT JOIN links_end AS le ON le.visitor_id = e.visitor_id
    WHERE e.site_id = {site_id:String} AND e.event_type = 'survey' AND e.nps IS NOT NULL
      AND e.ts <= {to:DateTime64(3, 'UTC')}
    SETTINGS join_use_nulls = 0
),
-- Each answer counts at the end, and at the start too when it was given by then.
answers_at AS (
    SELECT at_person.1 AS at, at_person.2 AS person, argMax(recommend, ts) AS nps, toUInt32(0) AS referrals
    FROM answers
    ARRAY JOIN if(ts <= {start:DateTime64(3, 'UTC')}, [('start', person_start), ('end', person_end)],
                  [('end', person_end)]) AS at_person
    GROUP BY at, person
),
referred AS (
    SELECT concat('c:', referred_by) AS person,
           toUInt32(uniqExactIf(visitor_id, ts <= {start:DateTime64(3, 'UTC')})) AS by_start,
           toUInt32(uniqExact(visitor_id)) AS by_end
    FROM shop_events
    WHERE site_id = {site_id:String} AND event_type = 'pageview' AND referred_by != ''
      AND ts <= {to:DateTime64(3, 'UTC')}
    GROUP BY person
)
SELECT at, person, any(nps) AS nps, toUInt32(sum(referrals)) AS referrals
FROM (
    SELECT at, person, nps, referrals FROM answers_at
    UNION ALL
    SELECT 'start' AS at, person, NULL AS nps, by_start AS referrals FROM referred WHERE by_start > 0
    UNION ALL
    SELECT 'end' AS at, person, NULL AS nps, by_end AS referrals FROM referred
)
GROUP BY at, person
