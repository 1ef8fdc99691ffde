-- Same retention as `events` (sql/queries/events_set_ttl.sql), applied with it. A row sums up
-- one day of a visit: it goes when the day's first events do, never outliving any of them.
ALTER TABLE visit_days MODIFY TTL toDateTime(day, 'UTC') + toIntervalDay({retention_days:UInt32})
