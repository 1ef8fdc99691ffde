-- Customer value per buyer from the latest profiles: identified customers from customer_profiles
-- (which also holds customers known only from imported orders), buyers who never identified
-- from visitor_profiles. p_alive / predicted_clv are NULL where the site's model is not fitted.
SELECT customer_id AS customer, orders, frequency, monetary, recency_days, rfm_m, rfm_segment AS segment,
       p_alive, predicted_clv
FROM customer_profiles FINAL
WHERE site_id = {site_id:String} AND orders > 0
UNION ALL
SELECT visitor_id AS customer, orders, frequency, monetary, recency_days, rfm_m, rfm_segment AS segment,
       p_alive, predicted_clv
FROM visitor_profiles FINAL
WHERE site_id = {site_id:String} AND customer_id = '' AND orders > 0
