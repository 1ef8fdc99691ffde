-- Visitors seen before {to} who never bought (bots excluded): the prospects, counted as all
-- visitors less those with a purchase. One pass, no GROUP BY; each visitor id goes into the
-- sets as a 128-bit key of two 64-bit hashes (see visitors.sql), cheaper than SipHashing the
-- string as uniqExact of a String does.
SELECT uniqExact(bitOr(bitShiftLeft(toUInt128(cityHash64(visitor_id)), 64), toUInt128(xxHash64(visitor_id))))
       - uniqExactIf(bitOr(bitShiftLeft(toUInt128(cityHash64(visitor_id)), 64), toUInt128(xxHash64(visitor_id))),
                     event_type = 'purchase') AS prospects
FROM events
WHERE site_id = {site_id:String} AND is_bot = 0 AND ts < {to:DateTime64(3, 'UTC')}
