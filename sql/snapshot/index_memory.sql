-- DuckDB: the bytes its ART indexes hold (duckdb_memory(), tag ART_INDEX). A bucketed profiles
-- run keeps the indexes up to date as it adds its buckets, so they grow with the site's
-- profiles (~7 MiB per million at 5M visitors) and must fit under the connection's memory
-- limit with room for a bucket: the job sets the limit to that room plus this, after each
-- bucket (profiles/snapshot.py).
SELECT coalesce(sum(memory_usage_bytes), 0) AS bytes
FROM duckdb_memory()
WHERE tag = 'ART_INDEX'
