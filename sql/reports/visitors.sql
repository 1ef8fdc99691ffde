-- Visitors per {by} (day, week or month) in [{from}, {to}): unique visitors, the new ones (whose
-- first event ever falls in that bucket), the returning ones, visits (sessions, each counted in
-- the bucket where it started, so totals do not depend on the bucket), and the share of visitors
-- identified as customers (linked by identify, at any time). Bots excluded.
--
-- Read from visit_days (migration 0006), one row per visit and UTC day: a visit's first event
-- ever is its first_ts over all its days, its start in the period the same over the days from
-- {from}, and a day, Monday-week or month bucket is a union of days, so the buckets a visit was
-- active in are those of its days. The same numbers as from the events, from ~1.4M visit-days
-- instead of ~10M events (1.5 → 0.6 CPU s at 10M events). One pass, grouped per visit, then per
-- visitor: no window function, no second scan. Keys are hashes, not the id strings: a visit is
-- (cityHash64(visitor_id), cityHash64(session_id)) and a visitor (cityHash64, xxHash64) of its
-- id. Two independent 64-bit hashes make a 128-bit key, as strong as the 128-bit SipHash that
-- uniqExact itself counts with, and fixed-width keys group several times faster than pairs of
-- strings (docs/PERFORMANCE.md).
WITH
visits AS (
    SELECT cityHash64(visitor_id) AS v, cityHash64(session_id) AS s, any(xxHash64(visitor_id)) AS w,
           min(first_ts) AS first, minIf(first_ts, day >= toDate({from:DateTime64(3, 'UTC')})) AS start,
           countIf(day >= toDate({from:DateTime64(3, 'UTC')})) > 0 AS in_period,
           groupUniqArrayIf(multiIf({by:String} = 'day', toDateTime(day, 'UTC'), {by:String} = 'week',
                                    toDateTime(toMonday(day), 'UTC'), toDateTime(toStartOfMonth(day), 'UTC')),
                            day >= toDate({from:DateTime64(3, 'UTC')})) AS buckets
    FROM visit_days
    WHERE site_id = {site_id:String} AND day < toDate({to:DateTime64(3, 'UTC')})
    GROUP BY v, s
),
visitors AS (
    SELECT v, w, min(first) AS first_ts, groupUniqArrayArray(buckets) AS active_in,
           groupArrayIf(multiIf({by:String} = 'day', toStartOfDay(start), {by:String} = 'week',
                                toDateTime(toMonday(start)), toDateTime(toStartOfMonth(start))), in_period) AS starts
    FROM visits
    GROUP BY v, w
    HAVING length(active_in) > 0
),
-- One row per (visitor, bucket they were active in) of kind 0, and per visit start of kind 1.
marks AS (
    SELECT arrayJoin(arrayConcat(arrayMap(b -> (b, 0), active_in), arrayMap(b -> (b, 1), starts))) AS mark,
           mark.1 AS bucket, mark.2 AS kind,
           multiIf({by:String} = 'day', toStartOfDay(first_ts), {by:String} = 'week', toDateTime(toMonday(first_ts)),
                   toDateTime(toStartOfMonth(first_ts))) = bucket AS is_new,
           (v, w) IN (SELECT cityHash64(visitor_id), xxHash64(visitor_id) FROM identity_links
                      WHERE site_id = {site_id:String}) AS identified
    FROM visitors
)
SELECT toDate(bucket) AS period, countIf(kind = 0) AS visitors, countIf(kind = 0 AND is_new) AS new_visitors,
       visitors - new_visitors AS returning_visitors, countIf(kind = 1) AS visits,
       round(countIf(kind = 0 AND identified) / visitors, 4) AS identified_share
FROM marks
GROUP BY bucket
ORDER BY bucket
