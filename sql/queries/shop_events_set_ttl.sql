-- Same retention as `events` (sql/queries/events_set_ttl.sql), applied with it.
ALTER TABLE shop_events MODIFY TTL toDateTime(ts) + toIntervalDay({retention_days:UInt32})
