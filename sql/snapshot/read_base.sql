-- DuckDB, a reader: the base file, read-only, its tables under their plain names.
ATTACH $path AS base (READ_ONLY);
SET search_path = 'base.main'
