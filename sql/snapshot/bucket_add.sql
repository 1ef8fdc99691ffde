-- DuckDB, one bucket of a bucketed run: its visitors and customers are new rows
-- (bucket_start.sql removed the customers, bucket_replace.sql or bucket_start_full.sql the
-- visitors' old rows).
INSERT INTO visitor_profiles BY NAME SELECT * FROM incoming_visitors;
INSERT INTO customer_profiles BY NAME SELECT * FROM incoming_customers
