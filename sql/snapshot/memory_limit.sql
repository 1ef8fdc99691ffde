-- DuckDB: the connection's memory limit (DuckDB's default is 80% of RAM). Under it, DuckDB
-- evicts blocks from its buffer pool and reads them back from the file when a query needs them.
SET memory_limit = $limit
