-- DuckDB: one visitor's profile as the last incremental run wrote it (index lookup on visitor_id);
-- without a row here, the base's holds (snapshot/visitor.sql). Two index lookups cost less
-- than one through the merged view, which scans the delta's keys.
SELECT * FROM delta.visitor_profiles WHERE site_id = ? AND visitor_id = ?
