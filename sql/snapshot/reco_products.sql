-- DuckDB: a site's recommendable catalog with popularity (loaded once per snapshot).
SELECT product_id, name, rubrique, price, url, in_stock, is_new, popularity FROM reco_products WHERE site_id = ?
