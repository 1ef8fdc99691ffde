-- Visitors seen before {to} who never bought (bots excluded): the prospects, counted as all
-- visitors less those with a purchase. Read from visit_days (migration 0006, humans only): a
-- visitor has an event before {to}, a midnight, when they have a visit-day before it, and a
-- purchase there when one of those visit-days has one; ~1.4M rows instead of ~10M events.
-- One pass, no GROUP BY; each visitor id goes into the sets as a 128-bit key of two 64-bit
-- hashes (see visitors.sql), cheaper than SipHashing the string as uniqExact of a String does.
SELECT uniqExact(bitOr(bitShiftLeft(toUInt128(cityHash64(visitor_id)), 64), toUInt128(xxHash64(visitor_id))))
       - uniqExactIf(bitOr(bitShiftLeft(toUInt128(cityHash64(visitor_id)), 64), toUInt128(xxHash64(visitor_id))),
                     purchases > 0) AS prospects
FROM visit_days
WHERE site_id = {site_id:String} AND day < toDate({to:DateTime64(3, 'UTC')})
