-- DuckDB, one bucket of a bucketed run: its visitors replace their old rows, its customers
-- are new (bucket_start.sql removed them all).
DELETE FROM visitor_profiles
WHERE site_id = $site_id AND visitor_id IN (SELECT visitor_id FROM incoming_visitors);
INSERT INTO visitor_profiles BY NAME SELECT * FROM incoming_visitors;
INSERT INTO customer_profiles BY NAME SELECT * FROM incoming_customers
