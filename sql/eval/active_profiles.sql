-- DuckDB (the serving snapshot): profiles with at least 5 page views, for interest precision.
SELECT visitor_id, interests FROM visitor_profiles WHERE site_id = ? AND pageviews >= 5
