-- The sites that have events or imported orders: the profiles job rebuilds each of them (a shop
-- may start from its order history alone).
SELECT site_id
FROM (SELECT site_id FROM events UNION DISTINCT SELECT site_id FROM imported_orders)
ORDER BY site_id
