-- DuckDB, before the first bucket of a bucketed run: the customer rows are all rebuilt every
-- run, and on a full run ($full = 1) so are the visitor rows, so they go first; each bucket
-- then adds its rows (snapshot/bucket_add.sql).
DELETE FROM visitor_profiles WHERE site_id = $site_id AND $full = 1;
DELETE FROM customer_profiles WHERE site_id = $site_id
