-- Satisfaction per {by} in [{from}, {to}): surveys, mean satisfaction (1–5), NPS = % promoters
-- (9–10) − % detractors (0–6) among recommendation answers (empty without answers), complaints, customers (people who
-- bought in the bucket) and complaint rate = complaints / customers. Bots excluded.
-- Purchases, surveys, complaints and ?ref= landings come from `shop_events` (humans only,
-- sql/migrations/0005_shop_events.sql): 1% of the rows, instead of every granule of `events`.
WITH
links AS (
    SELECT visitor_id, customer_id
    FROM visitor_customers(site_id = {site_id:String}, as_of = {to:DateTime64(3, 'UTC')})
),
keyed AS (
    SELECT multiIf({by:String} = 'day', toStartOfDay(e.ts), {by:String} = 'week', toDateTime(toMonday(e.ts)),
                   toDateTime(toStartOfMonth(e.ts))) AS bucket,
           if(l.customer_id != '', l.customer_id, e.visitor_id) AS person,
           e.event_type AS event_type, e.satisfaction AS answer, e.nps AS recommend
    FROM shop_events AS e LEFT JOIN links AS l ON l.visitor_id = e.visitor_id
    WHERE e.site_id = {site_id:String} AND e.event_type IN ('survey', 'complaint', 'purchase')
      AND e.ts >= {from:DateTime64(3, 'UTC')} AND e.ts < {to:DateTime64(3, 'UTC')}
    SETTINGS join_use_nulls = 0
)
SELECT toDate(bucket) AS period,
       countIf(event_type = 'survey') AS surveys,
       round(avgIf(answer, answer IS NOT NULL), 2) AS mean_satisfaction,
       countIf(recommend IS NOT NULL) AS nps_answers,
       if(nps_answers > 0, round(100 * (countIf(recommend >= 9) - countIf(recommend <= 6)) / nps_answers, 1), NULL)
           AS nps,
       countIf(event_type = 'complaint') AS complaints,
       uniqExactIf(person, event_type = 'purchase') AS customers,
       round(if(customers > 0, complaints / customers, 0), 4) AS complaint_rate
FROM keyed
GROUP BY bucket
ORDER BY bucket
