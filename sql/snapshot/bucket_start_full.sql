-- DuckDB, before the first bucket of a full bucketed run: the site's visitor and customer rows
-- are all rebuilt, so they go first; each bucket then adds its rows (snapshot/bucket_add.sql).
-- The indexes go before the delete and come back over the rows left (other sites'): through the
-- ART indexes the delete removed key by key, 83 s for 4.8M visitors in a 1 GB base (256 MiB
-- memory limit), against 0.6 s for drop, delete and create here. Building them back after the
-- last bucket instead would hold every key at once (0.8 GB at 4.8M visitors); the buckets'
-- inserts keep them up to date at little cost (35 MiB of ART at 4.8M).
DROP INDEX IF EXISTS visitor_profiles_id;
DROP INDEX IF EXISTS customer_profiles_id;
DELETE FROM visitor_profiles WHERE site_id = $site_id;
DELETE FROM customer_profiles WHERE site_id = $site_id;
CREATE INDEX visitor_profiles_id ON visitor_profiles (visitor_id);
CREATE INDEX customer_profiles_id ON customer_profiles (customer_id)
