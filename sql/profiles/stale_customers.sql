-- The customer profiles a bucketed run did not write (see stale_visitors.sql): every run
-- writes every customer, so each of these is gone.
SELECT customer_id FROM customer_profiles FINAL
WHERE site_id = {site_id:String} AND updated_at < {updated_at:DateTime64(3, 'UTC')}
