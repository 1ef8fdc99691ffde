-- DuckDB: the recommender's tables for one site, replaced wholesale at every run.
CREATE TABLE IF NOT EXISTS reco_products AS SELECT * FROM incoming_products LIMIT 0;
CREATE TABLE IF NOT EXISTS reco_neighbours AS SELECT * FROM incoming_neighbours LIMIT 0;
DELETE FROM reco_products WHERE site_id = $site_id;
DELETE FROM reco_neighbours WHERE site_id = $site_id;
INSERT INTO reco_products BY NAME SELECT * FROM incoming_products;
INSERT INTO reco_neighbours BY NAME SELECT * FROM incoming_neighbours
