-- Erasure of one person: lightweight DELETEs (rows vanish from queries at once, parts are
-- rewritten by later merges). {visitors} are the person's visitor ids, {customer} their
-- customer id ('' for an anonymous visitor), {visits} the (visitor id, session id) pairs of the
-- events that carry that customer id (privacy/customer_visits, read before events go).
DELETE FROM events WHERE site_id = {site_id:String} AND (visitor_id IN {visitors:Array(String)}
                                                         OR (customer_id != '' AND customer_id = {customer:String}));
DELETE FROM shop_events WHERE site_id = {site_id:String} AND (visitor_id IN {visitors:Array(String)}
                                                              OR (customer_id != '' AND customer_id = {customer:String}));
DELETE FROM visit_days WHERE site_id = {site_id:String} AND (visitor_id IN {visitors:Array(String)}
                                                             OR (visitor_id, session_id) IN {visits:Array(Tuple(String, String))});
DELETE FROM identity_links WHERE site_id = {site_id:String} AND (visitor_id IN {visitors:Array(String)}
                                                                 OR (customer_id != '' AND customer_id = {customer:String}));
DELETE FROM imported_orders WHERE site_id = {site_id:String} AND customer_id != '' AND customer_id = {customer:String};
DELETE FROM visitor_profiles WHERE site_id = {site_id:String} AND visitor_id IN {visitors:Array(String)};
DELETE FROM customer_profiles WHERE site_id = {site_id:String} AND customer_id != '' AND customer_id = {customer:String}
