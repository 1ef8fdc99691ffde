-- DuckDB, a reader: the delta over the base. A profile the delta holds replaces the base's, a
-- customer it removed is gone; the recommender's tables are the base's.
ATTACH $path AS delta (READ_ONLY);
CREATE VIEW memory.main.visitor_profiles AS
SELECT * FROM delta.visitor_profiles
UNION ALL BY NAME
SELECT * FROM base.visitor_profiles b
WHERE NOT EXISTS (SELECT 1 FROM delta.visitor_profiles d WHERE d.site_id = b.site_id AND d.visitor_id = b.visitor_id);
CREATE VIEW memory.main.customer_profiles AS
SELECT * FROM delta.customer_profiles
UNION ALL BY NAME
SELECT * FROM base.customer_profiles b
WHERE NOT EXISTS (SELECT 1 FROM delta.customer_profiles d
                  WHERE d.site_id = b.site_id AND d.customer_id = b.customer_id)
  AND NOT EXISTS (SELECT 1 FROM delta.removed_customers r
                  WHERE r.site_id = b.site_id AND r.customer_id = b.customer_id);
SET search_path = 'memory.main,base.main'
