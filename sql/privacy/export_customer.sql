-- A person's customer profile.
SELECT * EXCEPT (is_deleted) FROM customer_profiles FINAL
WHERE site_id = {site_id:String} AND customer_id = {customer:String}
