"""The demo shop's catalog: rubriques and products, generated the same way every time.

The shop pages, the simulator and the tests all draw from this one catalog, so a product
id means the same product everywhere. Each product carries a latent `appeal` (its true
popularity inside its rubrique) that the simulator uses and writes to the ground truth.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache

from fidelia.store import Store

SEED = 20261122
PRODUCTS_PER_RUBRIQUE = 32


@dataclass(frozen=True)
class Rubrique:
    slug: str
    fr: str
    en: str
    min_price: float
    max_price: float
    nouns: tuple[tuple[str, str], ...]  # (fr, en)


@dataclass(frozen=True)
class Product:
    product_id: str
    rubrique: str
    name_fr: str
    name_en: str
    price: float
    is_new: bool
    appeal: float

    @property
    def url_path(self) -> str:
        return f"/shop/p/{self.product_id}"

    def name(self, lang: str) -> str:
        return self.name_fr if lang == "fr" else self.name_en


RUBRIQUES: tuple[Rubrique, ...] = (
    Rubrique("chaussures", "Chaussures", "Shoes", 29, 189,
             (("Escarpins", "Pumps"), ("Baskets", "Sneakers"), ("Bottines", "Ankle boots"), ("Mocassins", "Loafers"))),
    Rubrique("sacs", "Sacs", "Bags", 19, 249,
             (("Sac à main", "Handbag"), ("Cabas", "Tote bag"), ("Sac à dos", "Backpack"), ("Pochette", "Clutch"))),
    Rubrique("robes", "Robes", "Dresses", 25, 159,
             (("Robe longue", "Maxi dress"), ("Robe courte", "Mini dress"), ("Robe chemise", "Shirt dress"),
              ("Robe portefeuille", "Wrap dress"))),
    Rubrique("homme", "Homme", "Men", 19, 179,
             (("Chemise", "Shirt"), ("Pantalon chino", "Chinos"), ("Veste", "Jacket"), ("Pull", "Sweater"))),
    Rubrique("montres", "Montres", "Watches", 49, 499,
             (("Montre automatique", "Automatic watch"), ("Montre connectée", "Smartwatch"),
              ("Chronographe", "Chronograph"), ("Montre classique", "Dress watch"))),
    Rubrique("bijoux", "Bijoux", "Jewellery", 15, 299,
             (("Collier", "Necklace"), ("Bracelet", "Bracelet"), ("Boucles d'oreilles", "Earrings"),
              ("Bague", "Ring"))),
    Rubrique("maison", "Maison", "Home", 9, 229,
             (("Coussin", "Cushion"), ("Lampe", "Lamp"), ("Plaid", "Throw"), ("Vase", "Vase"))),
    Rubrique("beaute", "Beauté", "Beauty", 7, 89,
             (("Crème visage", "Face cream"), ("Parfum", "Perfume"), ("Rouge à lèvres", "Lipstick"),
              ("Sérum", "Serum"))),
    Rubrique("sport", "Sport", "Sport", 12, 199,
             (("Legging", "Leggings"), ("Tapis de yoga", "Yoga mat"), ("Coupe-vent", "Windbreaker"),
              ("Chaussures de running", "Running shoes"))),
    Rubrique("enfants", "Enfants", "Kids", 9, 89,
             (("Pyjama", "Pyjamas"), ("Doudou", "Cuddly toy"), ("Ciré", "Raincoat"), ("Sweat", "Hoodie"))),
)
ADJECTIVES = (
    ("noir", "black"), ("blanc", "white"), ("rouge", "red"), ("bleu marine", "navy"), ("camel", "camel"),
    ("vert sauge", "sage green"), ("doré", "gold"), ("gris", "grey"),
)


@dataclass(frozen=True)
class Catalog:
    rubriques: tuple[Rubrique, ...]
    products: tuple[Product, ...]

    @property
    def by_id(self) -> dict[str, Product]:
        return {p.product_id: p for p in self.products}

    def in_rubrique(self, slug: str) -> list[Product]:
        return [p for p in self.products if p.rubrique == slug]

    def rubrique(self, slug: str) -> Rubrique | None:
        return next((r for r in self.rubriques if r.slug == slug), None)

    def best_sellers(self, n: int, rubrique: str | None = None) -> list[Product]:
        """Highest true appeal first: the demo's stand-in for sales until the recommender ranks."""
        pool = self.products if rubrique is None else tuple(self.in_rubrique(rubrique))
        return sorted(pool, key=lambda p: -p.appeal)[:n]

    def search(self, query: str, lang: str) -> list[Product]:
        words = query.lower().split()
        return [p for p in self.products if words and all(w in p.name(lang).lower() or w in p.rubrique for w in words)]


@cache
def demo_catalog() -> Catalog:
    """The demo catalog: 10 rubriques of 32 products, identical on every call and every machine."""
    rnd = random.Random(SEED)
    products = []
    for r_index, rub in enumerate(RUBRIQUES):
        for i in range(PRODUCTS_PER_RUBRIQUE):
            noun_fr, noun_en = rub.nouns[i % len(rub.nouns)]
            adj_fr, adj_en = ADJECTIVES[(i // len(rub.nouns)) % len(ADJECTIVES)]
            price = round(rnd.uniform(rub.min_price, rub.max_price)) - 0.01
            products.append(Product(
                product_id=f"p{r_index:02d}{i:02d}",
                rubrique=rub.slug,
                name_fr=f"{noun_fr} coloris {adj_fr}",
                name_en=f"{adj_en.capitalize()} {noun_en.lower()}",
                price=price,
                is_new=rnd.random() < 0.15,
                appeal=round(rnd.paretovariate(1.3), 4),  # a few hits, a long tail
            ))
    return Catalog(RUBRIQUES, tuple(products))


def load_demo_catalog(store: Store, site_id: str = "demo") -> None:
    """Put the demo catalog in the `products` table, so the recommender offers only real products."""
    from recommender.catalog_import import load_products

    load_products(store, site_id, [
        (p.product_id, p.name_fr, p.rubrique, p.price, p.url_path, 1, int(p.is_new)) for p in demo_catalog().products
    ])
