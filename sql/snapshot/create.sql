-- DuckDB: the serving snapshot's tables take the profile tables' columns (created from the
-- incoming rows' schema), plus an index for the API's point lookups. The index is on the id
-- alone: DuckDB 2.0 did not use a (site_id, visitor_id) index for the lookup (a full scan,
-- 30 ms at 800k visitors, against ~1 ms with this one); site_id is checked on the rows found.
CREATE TABLE IF NOT EXISTS visitor_profiles AS SELECT * FROM incoming_visitors LIMIT 0;
CREATE TABLE IF NOT EXISTS customer_profiles AS SELECT * FROM incoming_customers LIMIT 0;
DROP INDEX IF EXISTS visitor_profiles_key;
DROP INDEX IF EXISTS customer_profiles_key;
CREATE INDEX IF NOT EXISTS visitor_profiles_id ON visitor_profiles (visitor_id);
CREATE INDEX IF NOT EXISTS customer_profiles_id ON customer_profiles (customer_id)
