-- DuckDB, incremental rebuild: the visit part of the profiles to rebuild that have no new events,
-- as the last run wrote them: the visitors whose own numbers changed, and every device of the
-- customers rebuilt whole (profiles/changes.py decides who).
SELECT visitor_id, customer_id, first_seen, last_seen, visits, pageviews, last_visits, interests, recent_products
FROM visitor_profiles
WHERE site_id = $site_id
  AND (visitor_id IN (SELECT visitor_id FROM wanted_visitors)
       OR customer_id IN (SELECT customer_id FROM wanted_customers))
  AND visitor_id NOT IN (SELECT visitor_id FROM recomputed)
