-- The newest insert time of a site's events: what an incremental run has seen once it ends.
SELECT max(inserted_at) FROM events WHERE site_id = {site_id:String}
