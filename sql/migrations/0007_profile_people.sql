-- The people one step of the profiles job scores, and their orders: one definition for the
-- person queries of sql/profiles/ (orders, feedback, the whole-site RFM cut points and value
-- histories), so that a bucket's people are chosen the same way in each (profiles/buckets.py).
-- {part}: 0 the whole site; 1 the bucket of visitors [{lo}, {hi}) ({hi} = '': no upper bound)
-- with their customers; 2 the customers in [{lo}, {hi}) with orders or referrals but no device
-- (imported history only), written after the last bucket. A person is 'c:' + customer id, or
-- 'v:' + visitor id for a visitor linked to no customer.
-- Use: FROM profile_orders(site_id = …, as_of = …, part = …, lo = …, hi = …), likewise the others.

-- The customers of a part (for part 0: not needed, empty).
CREATE VIEW IF NOT EXISTS profile_customers AS
SELECT DISTINCT customer_id
FROM visitor_customers(site_id = {site_id:String}, as_of = {as_of:DateTime64(3, 'UTC')})
WHERE {part:UInt8} = 1 AND customer_id != ''
  AND visitor_id >= {lo:String} AND ({hi:String} = '' OR visitor_id < {hi:String})
UNION ALL
SELECT customer_id
FROM (
    SELECT customer_id FROM imported_orders
    WHERE site_id = {site_id:String} AND ordered_at <= {as_of:DateTime64(3, 'UTC')}
    UNION DISTINCT
    SELECT referred_by AS customer_id FROM shop_events
    WHERE site_id = {site_id:String} AND event_type = 'pageview' AND referred_by != ''
      AND ts <= {as_of:DateTime64(3, 'UTC')}
)
WHERE {part:UInt8} = 2 AND customer_id >= {lo:String} AND ({hi:String} = '' OR customer_id < {hi:String})
  AND customer_id NOT IN (
      SELECT customer_id FROM visitor_customers(site_id = {site_id:String}, as_of = {as_of:DateTime64(3, 'UTC')})
  );

-- The links that name a person of the part: every link on the whole site; in a bucket the links
-- of its visitors and of every other device of its customers (in other buckets); none for
-- customers without a device. The latest link of a visitor, as visitor_customers gives it, but
-- grouped over those visitors only (through the view: 0.17 s for a bucket's links at 1M
-- visitors, 0.10 s so).
CREATE VIEW IF NOT EXISTS profile_links AS
WITH
customers AS (
    SELECT customer_id
    FROM profile_customers(site_id = {site_id:String}, as_of = {as_of:DateTime64(3, 'UTC')}, part = {part:UInt8},
                           lo = {lo:String}, hi = {hi:String})
)
SELECT visitor_id, argMax(customer_id, linked_at) AS customer_id
FROM identity_links
WHERE site_id = {site_id:String} AND linked_at <= {as_of:DateTime64(3, 'UTC')}
  AND ({part:UInt8} = 0
       OR ({part:UInt8} = 1
           AND (visitor_id >= {lo:String} AND ({hi:String} = '' OR visitor_id < {hi:String})
                OR visitor_id IN (SELECT visitor_id FROM identity_links
                                  WHERE site_id = {site_id:String} AND linked_at <= {as_of:DateTime64(3, 'UTC')}
                                    AND customer_id IN customers))))
GROUP BY visitor_id
HAVING {part:UInt8} = 0
    OR visitor_id >= {lo:String} AND ({hi:String} = '' OR visitor_id < {hi:String})
    OR customer_id IN customers;

-- The purchases, surveys and complaints of the part's people, each with its person: the events
-- of the part's visitors and of every device of its customers (links as above). Every person
-- keyed here is one of the part's.
CREATE VIEW IF NOT EXISTS profile_events AS
SELECT if(l.customer_id != '', concat('c:', l.customer_id), concat('v:', e.visitor_id)) AS person,
       e.event_type AS event_type, e.ts AS ts, e.order_id AS order_id, e.revenue AS revenue, e.items AS items,
       e.satisfaction AS satisfaction, e.nps AS nps
FROM shop_events AS e
LEFT JOIN (
    SELECT visitor_id, customer_id
    FROM profile_links(site_id = {site_id:String}, as_of = {as_of:DateTime64(3, 'UTC')}, part = {part:UInt8},
                       lo = {lo:String}, hi = {hi:String})
) AS l ON l.visitor_id = e.visitor_id
WHERE e.site_id = {site_id:String} AND e.event_type IN ('purchase', 'survey', 'complaint')
  AND e.ts <= {as_of:DateTime64(3, 'UTC')}
  AND ({part:UInt8} = 0 OR l.visitor_id != ''
       OR ({part:UInt8} = 1 AND e.visitor_id >= {lo:String} AND ({hi:String} = '' OR e.visitor_id < {hi:String})))
SETTINGS join_use_nulls = 0;

-- Every order up to {as_of} of the part's people, one row each, with the person it belongs to.
-- An order both tracked and imported counts once; the import wins (it names the customer): so the
-- imports of tracked orders are read too (those of any tracked order: a cheaper set to build than
-- the part's own purchases, read a second time), and an order is kept if its winner is the part's.
CREATE VIEW IF NOT EXISTS profile_orders AS
WITH
customers AS (
    SELECT customer_id
    FROM profile_customers(site_id = {site_id:String}, as_of = {as_of:DateTime64(3, 'UTC')}, part = {part:UInt8},
                           lo = {lo:String}, hi = {hi:String})
),
tracked AS (
    SELECT person, order_id, ts, ifNull(revenue, 0) AS amount, items, 0 AS source
    FROM profile_events(site_id = {site_id:String}, as_of = {as_of:DateTime64(3, 'UTC')}, part = {part:UInt8},
                        lo = {lo:String}, hi = {hi:String})
    WHERE event_type = 'purchase'
),
imported AS (
    SELECT concat('c:', customer_id) AS person, order_id, ordered_at AS ts, amount, items, 1 AS source
    FROM imported_orders FINAL
    WHERE site_id = {site_id:String} AND ordered_at <= {as_of:DateTime64(3, 'UTC')}
      AND ({part:UInt8} = 0 OR customer_id IN customers
           OR order_id IN (SELECT order_id FROM shop_events
                           WHERE site_id = {site_id:String} AND event_type = 'purchase'
                             AND ts <= {as_of:DateTime64(3, 'UTC')}))
),
orders AS (
    SELECT order_id, argMax(person, source) AS person, argMax(ts, source) AS ts, argMax(amount, source) AS amount,
           argMax(items, source) AS items
    FROM (SELECT * FROM tracked UNION ALL SELECT * FROM imported)
    GROUP BY order_id
)
SELECT person, order_id, ts, amount, items
FROM orders
WHERE {part:UInt8} = 0 OR startsWith(person, 'v:') OR substring(person, 3) IN customers;
