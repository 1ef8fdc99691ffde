-- Applied by `fidelia migrate` only when FIDELIA_RETENTION_DAYS changed (see fidelia_meta),
-- because MODIFY TTL rewrites the parts that hold expired rows.
ALTER TABLE events MODIFY TTL toDateTime(ts) + toIntervalDay({retention_days:UInt32})
