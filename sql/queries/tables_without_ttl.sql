-- Which of {tables} have no TTL yet: `fidelia migrate` gives them the retention even when it did
-- not change (a table created by a later migration, on a store whose retention was recorded).
SELECT name FROM system.tables
WHERE database = currentDatabase() AND name IN {tables:Array(String)} AND NOT match(engine_full, '\\bTTL\\b')
