-- DuckDB, incremental rebuild: the customers the visitors with new events belonged to at the last
-- run (an identify may have moved a device to another customer: both are rebuilt).
SELECT DISTINCT customer_id
FROM visitor_profiles
WHERE site_id = $site_id AND customer_id != '' AND visitor_id IN (SELECT visitor_id FROM recomputed)
