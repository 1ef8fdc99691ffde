-- DuckDB, full rebuild of one site: its rows are replaced wholesale (SnapshotWriter.publish checkpoints).
DELETE FROM visitor_profiles WHERE site_id = $site_id;
DELETE FROM customer_profiles WHERE site_id = $site_id;
INSERT INTO visitor_profiles BY NAME SELECT * FROM incoming_visitors;
INSERT INTO customer_profiles BY NAME SELECT * FROM incoming_customers
