-- Whether an id is a customer id on the site (linked visitors or imported orders).
SELECT count() > 0 FROM (
    SELECT 1 FROM identity_links WHERE site_id = {site_id:String} AND customer_id = {id:String} LIMIT 1
    UNION ALL
    SELECT 1 FROM imported_orders WHERE site_id = {site_id:String} AND customer_id = {id:String} LIMIT 1
)
