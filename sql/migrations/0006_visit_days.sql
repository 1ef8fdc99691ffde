-- One row per visit and UTC day, summed up at insert time by a materialized view: what the
-- visitors and sources reports need of a visit, so that they group ~1.4M visit-days instead of
-- ~10M events (at 10M events: sources 2.4 → 0.8 CPU s, visitors 1.5 → 0.6; docs/PERFORMANCE.md).
-- Report periods are whole UTC days, so the visit-days inside a period hold exactly the visit's
-- events inside it: its first event there (min of first_ts, the attribution's argMin) and its
-- purchases. A visit that spans midnight has one row per day, merged by the reports' GROUP BY.
--
-- AggregatingMergeTree: each insert block adds partial rows (a visit's events arrive over many
-- collector batches) and merges fold them; a query still groups, because parts merge when
-- ClickHouse decides. The attribution is the first event's [source, medium, campaign] as one
-- JSON string: an argMin state of a String merges 2x faster than three of them and 4x faster
-- than one of a Tuple (whose state goes through ClickHouse's generic, slow path); the report
-- decodes it only after grouping by it (a few dozen rows). Source = UTM source, else the
-- referrer's host, else 'direct', as sql/reports/sources.sql has always credited it.
-- Humans only, like shop_events. Sort key: tenant, then day, so a period reads its own days.
-- The view only sees inserts, so the last statement copies what `events` already held; the
-- view's SELECT and that copy must stay the same. Retention: the same TTL as `events`
-- (sql/queries/visit_days_set_ttl.sql); erased with `events` (sql/privacy/erase.sql).
CREATE TABLE IF NOT EXISTS visit_days
(
    site_id      LowCardinality(String),
    day          Date,
    visitor_id   String,
    session_id   String,
    first_ts     SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    attribution  AggregateFunction(argMin, String, DateTime64(3, 'UTC')) COMMENT 'first event: [source, medium, campaign] as JSON',
    purchases    SimpleAggregateFunction(sum, UInt64),
    revenue      SimpleAggregateFunction(sum, Float64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (site_id, day, visitor_id, session_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS visit_days_from_events TO visit_days AS
SELECT site_id, toDate(ts) AS day, visitor_id, session_id, min(ts) AS first_ts,
       argMinState(toJSONString([multiIf(utm_source != '', toString(utm_source), referrer != '', domain(referrer), 'direct'),
                                 toString(utm_medium), toString(utm_campaign)]), ts) AS attribution,
       countIf(event_type = 'purchase') AS purchases, sumIf(ifNull(revenue, 0), event_type = 'purchase') AS revenue
FROM events
WHERE is_bot = 0
GROUP BY site_id, day, visitor_id, session_id;

INSERT INTO visit_days
SELECT site_id, toDate(ts) AS day, visitor_id, session_id, min(ts) AS first_ts,
       argMinState(toJSONString([multiIf(utm_source != '', toString(utm_source), referrer != '', domain(referrer), 'direct'),
                                 toString(utm_medium), toString(utm_campaign)]), ts) AS attribution,
       countIf(event_type = 'purchase') AS purchases, sumIf(ifNull(revenue, 0), event_type = 'purchase') AS revenue
FROM events
WHERE is_bot = 0
GROUP BY site_id, day, visitor_id, session_id
