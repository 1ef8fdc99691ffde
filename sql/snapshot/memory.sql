-- DuckDB: what the connection holds in memory, by tag (buffer pool, ART indexes, …), for the
-- job's debug log (profiles/memory.py).
SELECT tag, memory_usage_bytes // 1048576 AS mib
FROM duckdb_memory()
WHERE memory_usage_bytes >= 1048576
ORDER BY tag
