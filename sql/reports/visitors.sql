-- Visitors per {by} (day, week or month) in [{from}, {to}): unique visitors, the new ones (whose
-- first event ever falls in that bucket), the returning ones, visits (sessions, each counted in
-- the bucket where it started, so totals do not depend on the bucket), and the share of visitors
-- identified as customers (linked by identify, at any time). Bots excluded.
WITH
first_seen AS (
    SELECT visitor_id, min(ts) AS first_ts
    FROM events
    WHERE site_id = {site_id:String} AND is_bot = 0 AND ts < {to:DateTime64(3, 'UTC')}
    GROUP BY visitor_id
),
linked AS (
    SELECT DISTINCT visitor_id FROM identity_links WHERE site_id = {site_id:String}
),
bucketed AS (
    SELECT multiIf({by:String} = 'day', toStartOfDay(e.ts), {by:String} = 'week', toDateTime(toMonday(e.ts)),
                   toDateTime(toStartOfMonth(e.ts))) AS bucket,
           e.visitor_id AS visitor_id, e.session_id AS session_id, f.first_ts AS first_ts,
           min(e.ts) OVER (PARTITION BY e.visitor_id, e.session_id) AS session_start
    FROM events AS e
    INNER JOIN first_seen AS f ON f.visitor_id = e.visitor_id
    WHERE e.site_id = {site_id:String} AND e.is_bot = 0
      AND e.ts >= {from:DateTime64(3, 'UTC')} AND e.ts < {to:DateTime64(3, 'UTC')}
)
SELECT toDate(bucket) AS period,
       uniqExact(visitor_id) AS visitors,
       uniqExactIf(visitor_id, multiIf({by:String} = 'day', toStartOfDay(first_ts), {by:String} = 'week',
                                       toDateTime(toMonday(first_ts)), toDateTime(toStartOfMonth(first_ts))) = bucket)
           AS new_visitors,
       visitors - new_visitors AS returning_visitors,
       uniqExactIf(visitor_id, session_id,
                   multiIf({by:String} = 'day', toStartOfDay(session_start), {by:String} = 'week',
                           toDateTime(toMonday(session_start)), toDateTime(toStartOfMonth(session_start))) = bucket)
           AS visits,
       round(uniqExactIf(visitor_id, visitor_id IN linked) / visitors, 4) AS identified_share
FROM bucketed
GROUP BY bucket
ORDER BY bucket
