-- DuckDB, the delta of an incremental run: the profile tables' columns, the customers removed
-- since the base, and the same point-lookup indexes as the base.
CREATE TABLE IF NOT EXISTS visitor_profiles AS SELECT * FROM incoming_visitors LIMIT 0;
CREATE TABLE IF NOT EXISTS customer_profiles AS SELECT * FROM incoming_customers LIMIT 0;
CREATE TABLE IF NOT EXISTS removed_customers (site_id VARCHAR, customer_id VARCHAR);
CREATE INDEX IF NOT EXISTS visitor_profiles_id ON visitor_profiles (visitor_id);
CREATE INDEX IF NOT EXISTS customer_profiles_id ON customer_profiles (customer_id)
