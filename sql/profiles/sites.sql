-- The sites that have events: the profiles job rebuilds each of them.
SELECT DISTINCT site_id FROM events ORDER BY site_id
