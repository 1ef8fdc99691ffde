-- DuckDB, a run about to rewrite the base: the live delta's rows go into the copy first.
ATTACH $path AS delta (READ_ONLY);
DELETE FROM visitor_profiles USING delta.visitor_profiles d
WHERE visitor_profiles.site_id = d.site_id AND visitor_profiles.visitor_id = d.visitor_id;
DELETE FROM customer_profiles USING delta.customer_profiles d
WHERE customer_profiles.site_id = d.site_id AND customer_profiles.customer_id = d.customer_id;
DELETE FROM customer_profiles USING delta.removed_customers r
WHERE customer_profiles.site_id = r.site_id AND customer_profiles.customer_id = r.customer_id;
INSERT INTO visitor_profiles BY NAME SELECT * FROM delta.visitor_profiles;
INSERT INTO customer_profiles BY NAME SELECT * FROM delta.customer_profiles;
DETACH delta
