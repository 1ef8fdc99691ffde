-- DuckDB, one bucket of an incremental bucketed run: its visitors' old rows go before
-- snapshot/bucket_add.sql inserts the new ones (a full run removed them all at the start).
DELETE FROM visitor_profiles
WHERE site_id = $site_id AND visitor_id IN (SELECT visitor_id FROM incoming_visitors)
