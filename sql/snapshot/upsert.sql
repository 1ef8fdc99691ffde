-- DuckDB, incremental rebuild: the visitors the run wrote are replaced; customers are all
-- rebuilt every run, so the site's customer rows are replaced wholesale.
DELETE FROM visitor_profiles
WHERE site_id = $site_id AND visitor_id IN (SELECT visitor_id FROM incoming_visitors);
DELETE FROM customer_profiles WHERE site_id = $site_id;
INSERT INTO visitor_profiles BY NAME SELECT * FROM incoming_visitors;
INSERT INTO customer_profiles BY NAME SELECT * FROM incoming_customers;
CHECKPOINT
