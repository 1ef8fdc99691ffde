-- Embedded store only (Store.release_memory): return the pages the engine's jemalloc freed to the
-- system at once. chdb's jemalloc keeps freed pages for dirty_decay_ms (5000), purging them
-- gradually over that time, so after a bucket's extract query some 300-400 MiB stayed
-- resident beside polars' and DuckDB's own allocators. On a server it would need the SYSTEM
-- privilege and the server's memory is not the job's: the store does not run it there.
SYSTEM JEMALLOC PURGE
