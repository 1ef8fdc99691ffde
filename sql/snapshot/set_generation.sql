-- DuckDB, a new base: its generation, which names the delta that later incremental runs write.
CREATE TABLE IF NOT EXISTS snapshot_info (generation VARCHAR);
DELETE FROM snapshot_info;
INSERT INTO snapshot_info VALUES ($generation)
