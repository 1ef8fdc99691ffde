-- The customers a site's profile table holds now: those a run no longer produces get a tombstone.
SELECT customer_id FROM customer_profiles FINAL WHERE site_id = {site_id:String}
