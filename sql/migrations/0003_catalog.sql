-- The product catalog a site sells, loaded by `fidelia import-catalog` (and by `serve --demo`
-- for the demo shop). Products only ever seen in events also count as catalog (see
-- sql/recommender/catalog.sql); a listed product's own fields win over what events said.
CREATE TABLE IF NOT EXISTS products
(
    site_id     LowCardinality(String),
    product_id  String,
    name        String,
    rubrique    LowCardinality(String),
    price       Nullable(Float64),
    url         String,
    in_stock    UInt8 DEFAULT 1,
    is_new      UInt8 DEFAULT 0,
    updated_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (site_id, product_id)
