-- Visitors seen before {to} who never bought (bots excluded): the prospects.
SELECT uniqExactIf(visitor_id, NOT bought) AS prospects
FROM (
    SELECT visitor_id, countIf(event_type = 'purchase') > 0 AS bought
    FROM events
    WHERE site_id = {site_id:String} AND is_bot = 0 AND ts < {to:DateTime64(3, 'UTC')}
    GROUP BY visitor_id
)
