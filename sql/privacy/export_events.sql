-- Everything the events hold about a person, oldest first.
SELECT * EXCEPT (inserted_at)
FROM events
WHERE site_id = {site_id:String} AND (visitor_id IN {visitors:Array(String)}
                                      OR (customer_id != '' AND customer_id = {customer:String}))
ORDER BY ts
