-- A customer's imported orders.
SELECT * FROM imported_orders FINAL WHERE site_id = {site_id:String} AND customer_id = {customer:String}
