-- Every visitor id ever linked to a customer id.
SELECT DISTINCT visitor_id FROM identity_links WHERE site_id = {site_id:String} AND customer_id = {id:String}
