-- Erasure of one person: lightweight DELETEs (rows vanish from queries at once, parts are
-- rewritten by later merges). {visitors} are the person's visitor ids, {customer} their
-- customer id ('' for an anonymous visitor).
DELETE FROM events WHERE site_id = {site_id:String} AND (visitor_id IN {visitors:Array(String)}
                                                         OR (customer_id != '' AND customer_id = {customer:String}));
DELETE FROM shop_events WHERE site_id = {site_id:String} AND (visitor_id IN {visitors:Array(String)}
                                                              OR (customer_id != '' AND customer_id = {customer:String}));
DELETE FROM identity_links WHERE site_id = {site_id:String} AND (visitor_id IN {visitors:Array(String)}
                                                                 OR (customer_id != '' AND customer_id = {customer:String}));
DELETE FROM imported_orders WHERE site_id = {site_id:String} AND customer_id != '' AND customer_id = {customer:String};
DELETE FROM visitor_profiles WHERE site_id = {site_id:String} AND visitor_id IN {visitors:Array(String)};
DELETE FROM customer_profiles WHERE site_id = {site_id:String} AND customer_id != '' AND customer_id = {customer:String}
