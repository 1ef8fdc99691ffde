-- DuckDB, incremental rebuild: the profiles the run changed are replaced, and the customers it
-- no longer produces leave (profiles/changes.py decides which; SnapshotWriter.publish checkpoints).
DELETE FROM visitor_profiles
WHERE site_id = $site_id AND visitor_id IN (SELECT visitor_id FROM incoming_visitors);
DELETE FROM customer_profiles
WHERE site_id = $site_id AND (customer_id IN (SELECT customer_id FROM incoming_customers)
                              OR customer_id IN (SELECT customer_id FROM gone_customers));
INSERT INTO visitor_profiles BY NAME SELECT * FROM incoming_visitors;
INSERT INTO customer_profiles BY NAME SELECT * FROM incoming_customers
