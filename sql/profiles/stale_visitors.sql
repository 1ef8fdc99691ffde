-- The visitor profiles a bucketed run did not write: stored before the run began ({updated_at}
-- is the run's own version, the same for every bucket), so they get a tombstone, as on a
-- single pass. Asked once after the last bucket instead of keeping every id in memory.
SELECT visitor_id FROM visitor_profiles FINAL
WHERE site_id = {site_id:String} AND updated_at < {updated_at:DateTime64(3, 'UTC')}
