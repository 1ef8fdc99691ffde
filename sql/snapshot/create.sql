-- DuckDB: the serving snapshot's tables take the profile tables' columns (created from the
-- incoming rows' schema), plus an index for the API's point lookups.
CREATE TABLE IF NOT EXISTS visitor_profiles AS SELECT * FROM incoming_visitors LIMIT 0;
CREATE TABLE IF NOT EXISTS customer_profiles AS SELECT * FROM incoming_customers LIMIT 0;
CREATE INDEX IF NOT EXISTS visitor_profiles_key ON visitor_profiles (site_id, visitor_id);
CREATE INDEX IF NOT EXISTS customer_profiles_key ON customer_profiles (site_id, customer_id)
