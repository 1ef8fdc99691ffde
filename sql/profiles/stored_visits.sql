-- The visit part of stored profiles for the visitors an incremental run rescored but did not
-- recompute: those linked to a customer or with a purchase (their loyalty fields move with
-- the population and the date), minus the ones recomputed from events this run.
-- {bucketed}, {lo}, {hi}: the same range of visitors as profiles/visits.sql.
SELECT visitor_id, customer_id, first_seen, last_seen, visits, pageviews, last_visits, interests, recent_products
FROM visitor_profiles FINAL
WHERE site_id = {site_id:String}
  AND (customer_id != '' OR orders > 0 OR complaints > 0 OR nps IS NOT NULL OR satisfaction IS NOT NULL)
  AND ({bucketed:UInt8} = 0
       OR (visitor_id >= {lo:String} AND ({hi:String} = '' OR visitor_id < {hi:String})))
  AND visitor_id NOT IN (
      SELECT DISTINCT visitor_id FROM events
      WHERE site_id = {site_id:String} AND inserted_at > {watermark:DateTime64(3, 'UTC')}
  )
