-- The visit part of stored profiles for the visitors an incremental run rescored but did not
-- recompute: those linked to a customer or with a purchase (their loyalty fields move with
-- the population and the date), minus the ones recomputed from events this run.
-- {bucket} of {buckets}: the same split of people as profiles/visits.sql.
SELECT visitor_id, customer_id, first_seen, last_seen, visits, pageviews, last_visits, interests, recent_products
FROM visitor_profiles FINAL
WHERE site_id = {site_id:String}
  AND (customer_id != '' OR orders > 0 OR complaints > 0 OR nps IS NOT NULL OR satisfaction IS NOT NULL)
  AND ({buckets:UInt32} = 1
       OR cityHash64(if(customer_id != '', customer_id, visitor_id)) % {buckets:UInt32} = {bucket:UInt32})
  AND visitor_id NOT IN (
      SELECT DISTINCT visitor_id FROM events
      WHERE site_id = {site_id:String} AND inserted_at > {watermark:DateTime64(3, 'UTC')}
  )
