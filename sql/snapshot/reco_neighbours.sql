-- DuckDB: a site's item-to-item neighbours, best first (loaded once per snapshot).
SELECT product_id, neighbour, score FROM reco_neighbours WHERE site_id = ? ORDER BY product_id, score DESC, neighbour
