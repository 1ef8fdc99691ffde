-- DuckDB: a person's rows leave the serving snapshot too. $customer is '' for an anonymous
-- visitor, which must not match every other anonymous visitor's empty customer_id.
DELETE FROM visitor_profiles WHERE site_id = $site_id AND (visitor_id IN (SELECT unnest($visitors))
                                                            OR (customer_id != '' AND customer_id = $customer));
DELETE FROM customer_profiles WHERE site_id = $site_id AND customer_id != '' AND customer_id = $customer
