-- The recommender against its holdout in [{from}, {to}): offers shown (reco_impression),
-- clicks on their products (reco_click), and visits with an offer that ended in a purchase.
-- props.holdout says which group the visitor was in. Bots excluded.
--
-- Only the three event types that count are read (the rest of a visit adds nothing to any
-- column), and a visit is keyed by (cityHash64(visitor_id), cityHash64(session_id)), 128 bits,
-- rather than by the two strings (see visitors.sql).
WITH
visits AS (
    SELECT cityHash64(visitor_id) AS v, cityHash64(session_id) AS s,
           maxIf(JSONExtractBool(props, 'holdout'), event_type IN ('reco_impression', 'reco_click')) AS holdout,
           countIf(event_type = 'reco_impression') AS impressions,
           countIf(event_type = 'reco_click') AS clicks,
           countIf(event_type = 'purchase') > 0 AS purchased
    FROM events
    WHERE site_id = {site_id:String} AND is_bot = 0 AND event_type IN ('reco_impression', 'reco_click', 'purchase')
      AND ts >= {from:DateTime64(3, 'UTC')} AND ts < {to:DateTime64(3, 'UTC')}
    GROUP BY v, s
    HAVING impressions > 0
)
SELECT if(holdout, 'holdout', 'personalised') AS group_name, sum(impressions) AS impressions, sum(clicks) AS clicks,
       count() AS visits_with_offer, countIf(purchased) AS visits_converted
FROM visits
GROUP BY group_name
ORDER BY group_name
