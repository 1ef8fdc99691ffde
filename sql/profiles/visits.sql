-- Per-visitor visit behaviour for the profiles job: first/last seen, visits, pageviews, the
-- last visits, interest rubriques, and the customer the visitor is linked to.
--
-- Visits are re-cut here from the events' own time (a gap over {session_gap_ms} starts a new
-- one) rather than trusting the collector's session ids, so imported or replayed events split
-- the same way. Bots are left out.
-- Interest scores decay relative to the visitor's own last event, not to the run date: that
-- keeps a profile a pure function of its events (an incremental run equals a full one) while
-- the ranking, which is what the offer uses, is the same as with decay to today.
-- Incremental runs ({full} = 0) take only the visitors with events stored after
-- {watermark}; the IN filter is a PREWHERE on the sort key's second column.
-- `scoped` and `numbered` are used several times below: ClickHouse inlines a CTE at each use
-- (re-reading and re-numbering the events each time) unless the run sets
-- enable_materialized_cte, which the job does for incremental runs (a few thousand visitors,
-- 3x less work); a full run keeps the streaming plan, whose memory does not grow with the shop.
-- Bucketed runs ({bucketed} = 1, FIDELIA_PROFILES_BUCKETS, profiles/buckets.py) take one bucket
-- of visitors per query, those whose id is in [{lo}, {hi}) ({hi} = '': no upper bound).
-- visitor_id follows site_id in the sort key, so a bucket reads only its own granules. The
-- aggregation is per visitor, so buckets are independent; the job joins the devices of one
-- customer (sql/profiles/straddling_customers.sql). On a cluster a bucket reads the visitor's
-- own shard (links are sharded by the visitor, like events).
WITH
changed AS (
    SELECT DISTINCT visitor_id FROM events
    WHERE site_id = {site_id:String} AND inserted_at > {watermark:DateTime64(3, 'UTC')}
),
scoped AS MATERIALIZED (
    SELECT visitor_id, ts, event_type, rubrique, product_id, items
    FROM events
    WHERE site_id = {site_id:String} AND is_bot = 0 AND ts <= {as_of:DateTime64(3, 'UTC')}
      AND ({full:UInt8} = 1 OR visitor_id IN changed)
      AND ({bucketed:UInt8} = 0
           OR (visitor_id >= {lo:String} AND ({hi:String} = '' OR visitor_id < {hi:String})))
),
numbered AS MATERIALIZED (
    SELECT visitor_id, ts, event_type, rubrique, product_id, items,
           sum(new_visit) OVER (PARTITION BY visitor_id ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
               AS visit_no,
           max(ts) OVER (PARTITION BY visitor_id) AS last_seen
    FROM (
        SELECT *,
               dateDiff('millisecond',
                        lagInFrame(ts, 1, toDateTime64(0, 3, 'UTC'))
                            OVER (PARTITION BY visitor_id ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW),
                        ts) > {session_gap_ms:UInt64} AS new_visit
        FROM scoped
    )
),
visits AS (
    SELECT visitor_id, visit_no, min(ts) AS start, toUInt32(countIf(event_type = 'pageview')) AS pages,
           arraySort(groupUniqArrayIf(rubrique, rubrique != '')) AS rubriques
    FROM numbered
    GROUP BY visitor_id, visit_no
),
visit_summary AS (
    SELECT visitor_id, min(start) AS first_seen, toUInt32(count()) AS visits, toUInt32(sum(pages)) AS pageviews,
           arraySlice(arrayReverseSort(v -> v.1, groupArray((start, pages, rubriques))), 1, {last_visits:UInt8})
               AS last_visits
    FROM visits
    GROUP BY visitor_id
),
signals AS (
    SELECT visitor_id, ts, last_seen, rubrique,
           multiIf(event_type = 'pageview', {w_pageview:Float64}, event_type = 'product_view', {w_product_view:Float64},
                   {w_add_to_cart:Float64}) AS weight
    FROM numbered
    WHERE rubrique != '' AND event_type IN ('pageview', 'product_view', 'add_to_cart')
    UNION ALL
    SELECT visitor_id, ts, last_seen, tupleElement(item, 'rubrique') AS rubrique, {w_purchase:Float64} AS weight
    FROM numbered
    ARRAY JOIN JSONExtract(items, 'Array(Tuple(rubrique String))') AS item
    WHERE event_type = 'purchase' AND items != '' AND tupleElement(item, 'rubrique') != ''
),
interest_scores AS (
    SELECT visitor_id, rubrique,
           round(sum(weight * exp2(-dateDiff('second', ts, last_seen) / ({half_life_days:Float64} * 86400))), 6) AS score
    FROM signals
    GROUP BY visitor_id, rubrique
),
interest_lists AS (
    SELECT visitor_id, arraySort(x -> (-x.2, x.1), groupArray((rubrique, score))) AS interests
    FROM interest_scores
    GROUP BY visitor_id
),
recent AS (
    SELECT visitor_id,
           arraySlice(arrayDistinct(arrayMap(x -> x.2, arrayReverseSort(x -> x.1, groupArray((ts, product_id))))),
                      1, {recent_products:UInt8}) AS recent_products
    FROM numbered
    WHERE product_id != '' AND event_type IN ('product_view', 'add_to_cart')
    GROUP BY visitor_id
),
links AS (
    SELECT visitor_id, customer_id
    FROM visitor_customers(site_id = {site_id:String}, as_of = {as_of:DateTime64(3, 'UTC')})
    WHERE {bucketed:UInt8} = 0 OR (visitor_id >= {lo:String} AND ({hi:String} = '' OR visitor_id < {hi:String}))
),
seen AS (
    SELECT visitor_id, max(ts) AS last_seen FROM scoped GROUP BY visitor_id
)
SELECT
    v.visitor_id AS visitor_id,
    l.customer_id AS customer_id,
    v.first_seen AS first_seen,
    s.last_seen AS last_seen,
    v.visits AS visits,
    v.pageviews AS pageviews,
    toJSONString(CAST(v.last_visits,
                      'Array(Tuple(start DateTime64(3, \'UTC\'), pages UInt32, rubriques Array(String)))'))
        AS last_visits,
    toJSONString(CAST(i.interests, 'Array(Tuple(rubrique String, score Float64))')) AS interests,
    r.recent_products AS recent_products
FROM visit_summary AS v
INNER JOIN seen AS s ON s.visitor_id = v.visitor_id
LEFT JOIN interest_lists AS i ON i.visitor_id = v.visitor_id
LEFT JOIN links AS l ON l.visitor_id = v.visitor_id
LEFT JOIN recent AS r ON r.visitor_id = v.visitor_id
SETTINGS join_use_nulls = 0
