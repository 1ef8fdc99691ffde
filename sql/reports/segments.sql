-- The RFM and lifecycle picture from the latest profiles: one row per person (a customer, or
-- a visitor who never identified), with their segment, stage, scores and revenue.
SELECT if(customer_id != '', customer_id, visitor_id) AS person,
       any(rfm_segment) AS segment, any(lifecycle_stage) AS stage, any(rfm_r) AS r, any(rfm_f) AS f,
       any(rfm_m) AS m, any(monetary) AS monetary, any(orders) AS orders, any(recency_days) AS recency_days
FROM visitor_profiles FINAL
WHERE site_id = {site_id:String}
GROUP BY person
