-- DuckDB: one visitor's profile in the base (index lookup on visitor_id; the delta is looked up
-- first, snapshot/visitor_in_delta.sql).
SELECT * FROM base.visitor_profiles WHERE site_id = ? AND visitor_id = ?
