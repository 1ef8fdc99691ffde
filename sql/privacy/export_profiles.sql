-- A person's visitor profiles.
SELECT * EXCEPT (is_deleted) FROM visitor_profiles FINAL
WHERE site_id = {site_id:String} AND visitor_id IN {visitors:Array(String)}
