-- DuckDB: one visitor's profile (index lookup on site_id, visitor_id).
SELECT * FROM visitor_profiles WHERE site_id = ? AND visitor_id = ?
