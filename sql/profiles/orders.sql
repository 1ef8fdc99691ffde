-- Every order up to {as_of} of one part of the site's people ({part}, {lo}, {hi}: the whole site,
-- a bucket of visitors, or customers without a device; sql/migrations/0007_profile_people.sql),
-- one row each, with the person it belongs to: 'c:' + customer id for a visitor linked by
-- identify (or an imported order), else 'v:' + visitor id.
SELECT person, order_id, ts, amount,
       arrayMap(i -> tupleElement(i, 'product_id'),
                JSONExtract(items, 'Array(Tuple(product_id String, rubrique String))')) AS products,
       arrayMap(i -> tupleElement(i, 'rubrique'),
                JSONExtract(items, 'Array(Tuple(product_id String, rubrique String))')) AS rubriques
FROM profile_orders(site_id = {site_id:String}, as_of = {as_of:DateTime64(3, 'UTC')}, part = {part:UInt8},
                    lo = {lo:String}, hi = {hi:String})
