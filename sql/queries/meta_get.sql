SELECT argMax(value, updated_at) FROM fidelia_meta WHERE key = {key:String} GROUP BY key
