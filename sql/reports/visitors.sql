-- Visitors per {by} (day, week or month) in [{from}, {to}): unique visitors, the new ones (whose
-- first event ever falls in that bucket), the returning ones, visits (sessions, each counted in
-- the bucket where it started, so totals do not depend on the bucket), and the share of visitors
-- identified as customers (linked by identify, at any time). Bots excluded.
-- Hash aggregations only (no window function): each is one pass over the period's events.
WITH
in_period AS (
    SELECT visitor_id, session_id, ts
    FROM events
    WHERE site_id = {site_id:String} AND is_bot = 0
      AND ts >= {from:DateTime64(3, 'UTC')} AND ts < {to:DateTime64(3, 'UTC')}
),
first_seen AS (
    SELECT visitor_id, min(ts) AS first_ts
    FROM events
    WHERE site_id = {site_id:String} AND is_bot = 0 AND ts < {to:DateTime64(3, 'UTC')}
      AND visitor_id IN (SELECT visitor_id FROM in_period)
    GROUP BY visitor_id
),
linked AS (
    SELECT DISTINCT visitor_id FROM identity_links WHERE site_id = {site_id:String}
),
visitor_buckets AS (
    SELECT multiIf({by:String} = 'day', toStartOfDay(ts), {by:String} = 'week', toDateTime(toMonday(ts)),
                   toDateTime(toStartOfMonth(ts))) AS bucket, visitor_id
    FROM in_period
    GROUP BY bucket, visitor_id
),
visit_starts AS (
    SELECT multiIf({by:String} = 'day', toStartOfDay(start), {by:String} = 'week', toDateTime(toMonday(start)),
                   toDateTime(toStartOfMonth(start))) AS bucket, count() AS visits
    FROM (SELECT visitor_id, session_id, min(ts) AS start FROM in_period GROUP BY visitor_id, session_id)
    GROUP BY bucket
),
per_bucket AS (
    SELECT b.bucket AS bucket, count() AS visitors,
           countIf(multiIf({by:String} = 'day', toStartOfDay(f.first_ts), {by:String} = 'week',
                           toDateTime(toMonday(f.first_ts)), toDateTime(toStartOfMonth(f.first_ts))) = b.bucket)
               AS new_visitors,
           countIf(b.visitor_id IN linked) AS identified
    FROM visitor_buckets AS b
    INNER JOIN first_seen AS f ON f.visitor_id = b.visitor_id
    GROUP BY b.bucket
)
SELECT toDate(p.bucket) AS period, p.visitors AS visitors, p.new_visitors AS new_visitors,
       p.visitors - p.new_visitors AS returning_visitors, s.visits AS visits,
       round(p.identified / p.visitors, 4) AS identified_share
FROM per_bucket AS p
LEFT JOIN visit_starts AS s ON s.bucket = p.bucket
ORDER BY p.bucket
SETTINGS join_use_nulls = 0
