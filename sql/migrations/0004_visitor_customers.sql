-- Which customer each visitor id belongs to as of a date (the latest identify up to then): one
-- parameterized view for the profiles job and the reports, instead of a copy of the query in each.
-- Use: FROM visitor_customers(site_id = {site_id:String}, as_of = {as_of:DateTime64(3, 'UTC')})
CREATE VIEW IF NOT EXISTS visitor_customers AS
SELECT visitor_id, argMax(customer_id, linked_at) AS customer_id
FROM identity_links
WHERE site_id = {site_id:String} AND linked_at <= {as_of:DateTime64(3, 'UTC')}
GROUP BY visitor_id
