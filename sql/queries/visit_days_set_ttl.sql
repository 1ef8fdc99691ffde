-- Same retention as `events` (sql/queries/events_set_ttl.sql), applied with it. A row sums up
-- one UTC day of a visit: it expires at that day's start plus the retention, so no later than the
-- earliest event it sums up.
ALTER TABLE visit_days MODIFY TTL toDateTime(day, 'UTC') + toIntervalDay({retention_days:UInt32})
