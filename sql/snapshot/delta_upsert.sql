-- DuckDB, the delta of an incremental run: the profiles it changed replace the delta's, and the
-- customers it no longer produces are noted as removed (they may be in the base).
DELETE FROM visitor_profiles
WHERE site_id = $site_id AND visitor_id IN (SELECT visitor_id FROM incoming_visitors);
DELETE FROM customer_profiles
WHERE site_id = $site_id AND (customer_id IN (SELECT customer_id FROM incoming_customers)
                              OR customer_id IN (SELECT customer_id FROM gone_customers));
DELETE FROM removed_customers
WHERE site_id = $site_id AND (customer_id IN (SELECT customer_id FROM incoming_customers)
                              OR customer_id IN (SELECT customer_id FROM gone_customers));
INSERT INTO visitor_profiles BY NAME SELECT * FROM incoming_visitors;
INSERT INTO customer_profiles BY NAME SELECT * FROM incoming_customers;
INSERT INTO removed_customers SELECT $site_id, customer_id FROM gone_customers
