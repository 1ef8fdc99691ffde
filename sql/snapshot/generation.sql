-- DuckDB, a reader: the generation of the base (profiles/snapshot.py); a delta carries it in its name.
SELECT generation FROM base.snapshot_info
