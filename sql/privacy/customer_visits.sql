-- The visits (visitor id, session id) whose events carry the customer id: erasure removes their
-- visit_days rows too, even where the visitor id was never linked to the customer (a shared
-- device whose link moved on to someone else). Empty for an anonymous visitor.
SELECT DISTINCT visitor_id, session_id FROM events
WHERE site_id = {site_id:String} AND {customer:String} != '' AND customer_id = {customer:String}
