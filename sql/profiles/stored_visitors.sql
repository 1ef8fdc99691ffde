-- The visitors a site's profile table holds now: a full run tombstones those it no longer produces
-- (all their events expired or were erased).
SELECT visitor_id FROM visitor_profiles FINAL WHERE site_id = {site_id:String}
