-- Where visits come from in [{from}, {to}): each visit is credited to its first event's UTM
-- source/medium/campaign, else its referrer's host, else "direct". Visits, visitors, visits
-- with a purchase, conversion = converted visits / visits, revenue. Bots excluded.
WITH
visits AS (
    SELECT visitor_id, session_id,
           argMin(utm_source, ts) AS source_utm, argMin(utm_medium, ts) AS medium,
           argMin(utm_campaign, ts) AS campaign, argMin(referrer, ts) AS first_referrer,
           countIf(event_type = 'purchase') > 0 AS converted,
           sumIf(ifNull(revenue, 0), event_type = 'purchase') AS revenue
    FROM events
    WHERE site_id = {site_id:String} AND is_bot = 0
      AND ts >= {from:DateTime64(3, 'UTC')} AND ts < {to:DateTime64(3, 'UTC')}
    GROUP BY visitor_id, session_id
)
SELECT multiIf(source_utm != '', toString(source_utm), first_referrer != '', domain(first_referrer), 'direct') AS source,
       toString(medium) AS medium, toString(campaign) AS campaign,
       count() AS visits, uniqExact(visitor_id) AS visitors, countIf(converted) AS conversions,
       round(conversions / visits, 4) AS conversion, round(sum(revenue), 2) AS revenue
FROM visits
GROUP BY source, medium, campaign
ORDER BY visits DESC, source, medium, campaign
