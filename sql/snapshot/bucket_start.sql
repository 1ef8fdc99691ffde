-- DuckDB, before the first bucket of an incremental bucketed run: the customer rows are all
-- rebuilt every run, so they go first; each bucket then adds its rows (snapshot/bucket_add.sql).
-- The index goes before the delete and comes back over the rows left (other sites'): deleting
-- through an ART index removes key by key (see bucket_start_full.sql), and the buckets' inserts
-- then keep it up to date at little cost.
DROP INDEX IF EXISTS customer_profiles_id;
DELETE FROM customer_profiles WHERE site_id = $site_id;
CREATE INDEX customer_profiles_id ON customer_profiles (customer_id)
