"""The demo shop under /shop: a small e-shop that embeds the snippet the way a real shop does.

Every page loads `/t.js` with the two-tag embed of docs/demo-shop.md and declares its
rubrique on `<body data-rubrique>`; shop events go through `fidelia('track', …)`. The
pages are the integration example the docs point to, so they use nothing a real shop
would not have: server-rendered HTML, one stylesheet, one script, a cart in localStorage.

Links to rubriques and products are the catalog's own paths (`/shop/r/{slug}`,
`Product.url_path`), the strings a product feed and the recommender's `url` carry; links to
the shop's other pages come from the router (`url_for`).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from fidelia.demo.catalog import Catalog, Product, demo_catalog
from fidelia.forms import read_form
from fidelia.static_assets import load_folder

SITE_ID = "demo"
LANGS = ("fr", "en")
DEFAULT_LANG = "fr"
LANG_COOKIE = "lang"
CUSTOMER_COOKIE = "shop_customer"
COOKIE_MAX_AGE = 365 * 86400
FOR_YOU_SIZE = 8
SIMILAR_SIZE = 4
SEARCH_LIMIT = 48
MAX_QUERY = 200
MAX_FORM_BYTES = 4096
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{1,60}$")
CUSTOMER_ID = re.compile(r"^c-[0-9a-f]{12}$")
STATIC_DIR = Path(__file__).with_name("static")
COMPLAINT_TOPICS = ("delivery", "product", "refund", "other")
# The promotions an offer may carry (docs/recommender.md); the home page has a banner for each.
PROMOTIONS = ("welcome", "loyalty", "preview", "win_back")

# Label: (French, English).
LABELS: dict[str, tuple[str, str]] = {
    "shop_name": ("Boutique Fidelia", "Fidelia Shop"),
    "tagline": ("La boutique de démonstration de Fidelia : chaque clic devient un événement.",
                "Fidelia's demo shop: every click becomes an event."),
    "hero_text": ("Parcourez les rubriques, ajoutez au panier, commandez : Fidelia reconnaît le visiteur qui "
                  "revient et apprend ce qui l'intéresse.",
                  "Browse the departments, fill a cart, check out: Fidelia recognises the returning visitor "
                  "and learns what interests them."),
    "home": ("Accueil", "Home"),
    "rubriques": ("Nos rubriques", "Our departments"),
    "products": ("produits", "products"),
    "for_you": ("Pour vous", "For you"),
    "for_you_note": ("Nos meilleures ventes, en attendant de mieux vous connaître.",
                     "Our best sellers, until we know you better."),
    "promotion_welcome": ("Bienvenue : -10 % sur votre première commande", "Welcome: 10% off your first order"),
    "promotion_loyalty": ("Merci de votre fidélité : livraison offerte sur votre prochaine commande",
                          "Thank you for your loyalty: free delivery on your next order"),
    "promotion_preview": ("En avant-première : nos nouveautés, rien que pour vous",
                          "Preview: our new arrivals, before everyone else"),
    "promotion_win_back": ("Vous nous avez manqué : -15 % sur votre prochaine commande",
                           "We missed you: 15% off your next order"),
    "search": ("Rechercher", "Search"),
    "search_placeholder": ("Rechercher un produit", "Search products"),
    "search_prompt": ("Tapez un mot : robe, montre, noir…", "Type a word: dress, watch, black…"),
    "results_for": ("résultat(s) pour", "result(s) for"),
    "no_results": ("Aucun produit ne correspond.", "No product matches."),
    "new": ("Nouveau", "New"),
    "add_to_cart": ("Ajouter au panier", "Add to cart"),
    "added": ("Ajouté au panier ✓", "Added to cart ✓"),
    "similar": ("Dans la même rubrique", "In the same department"),
    "product_text": ("Produit de démonstration de la rubrique", "Demo product from the department"),
    "cart": ("Panier", "Cart"),
    "cart_empty": ("Votre panier est vide.", "Your cart is empty."),
    "product": ("Produit", "Product"),
    "price": ("Prix", "Price"),
    "quantity": ("Quantité", "Quantity"),
    "total": ("Total", "Total"),
    "remove": ("Retirer", "Remove"),
    "checkout": ("Commander", "Check out"),
    "continue": ("Continuer mes achats", "Continue shopping"),
    "checkout_title": ("Validation de la commande", "Checkout"),
    "confirm": ("Confirmer et payer", "Confirm and pay"),
    "fake_payment": ("Paiement fictif : rien n'est débité.", "Pretend payment: nothing is charged."),
    "thanks": ("Merci pour votre commande !", "Thank you for your order!"),
    "order_number": ("Commande n°", "Order no."),
    "amount": ("Montant", "Amount"),
    "survey": ("Votre avis compte", "Tell us what you think"),
    "satisfaction": ("Êtes-vous satisfait de votre achat ? (1 = pas du tout, 5 = tout à fait)",
                     "How satisfied are you with your purchase? (1 = not at all, 5 = very)"),
    "nps": ("Recommanderiez-vous la boutique à un proche ? (0 = jamais, 10 = certainement)",
            "How likely are you to recommend the shop to a friend? (0 = never, 10 = certainly)"),
    "send": ("Envoyer", "Send"),
    "survey_thanks": ("Merci, c'est noté.", "Thank you, noted."),
    "account": ("Mon compte", "My account"),
    "email": ("Adresse e-mail", "Email address"),
    "sign_in": ("Se connecter", "Sign in"),
    "sign_out": ("Se déconnecter", "Sign out"),
    "signed_in_as": ("Connecté en tant que client", "Signed in as customer"),
    "bad_email": ("Cette adresse e-mail n'est pas valide.", "That email address is not valid."),
    "account_note": ("Démo : pas de mot de passe. Fidelia reçoit un identifiant client dérivé de l'e-mail, "
                     "jamais l'e-mail.",
                     "Demo: no password. Fidelia gets a customer id derived from the email, never the email."),
    "complaint": ("Service client", "Customer service"),
    "complaint_title": ("Faire une réclamation", "Make a complaint"),
    "topic": ("Sujet", "Topic"),
    "topic_delivery": ("Livraison", "Delivery"),
    "topic_product": ("Produit défectueux", "Faulty product"),
    "topic_refund": ("Remboursement", "Refund"),
    "topic_other": ("Autre", "Other"),
    "message": ("Votre message", "Your message"),
    "complaint_note": ("Votre texte reste dans votre navigateur : seul le sujet est envoyé à Fidelia.",
                       "Your text stays in your browser: only the topic is sent to Fidelia."),
    "complaint_thanks": ("Merci, nous revenons vers vous très vite.", "Thank you, we will get back to you soon."),
    "not_found": ("Page introuvable", "Page not found"),
    "not_found_text": ("Cette page, ce produit ou cette rubrique n'existe pas.",
                       "This page, product or department does not exist."),
    "back_home": ("Retour à l'accueil", "Back to the home page"),
    "needs_js": ("Le panier a besoin de JavaScript.", "The cart needs JavaScript."),
    "footer": ("Boutique de démonstration de Fidelia : ses événements partent vers /collect, servi par la même "
               "application.",
               "Fidelia's demo shop: its events go to /collect, served by the same application."),
}
# The labels shop.js needs, handed over in the page's JSON data block.
SCRIPT_LABELS = ("remove", "added", "add_to_cart")


def customer_id_for(email: str) -> str:
    """The demo's customer id for an email: what Fidelia gets instead of the address itself."""
    return "c-" + hashlib.sha256(email.strip().lower().encode()).hexdigest()[:12]


def format_price(value: float, lang: str) -> str:
    """Euros the way each language writes them (the same as Intl.NumberFormat in shop.js)."""
    if lang == "fr":
        return f"{value:,.2f}".replace(",", "\u202f").replace(".", ",") + "\u00a0€"
    return f"€{value:,.2f}"


def rubrique_path(slug: str) -> str:
    return f"/shop/r/{slug}"


def product_hue(product: Product) -> int:
    """A colour for the product's placeholder picture: one hue family per rubrique."""
    return (int(product.product_id[1:3]) * 36 + int(product.product_id[3:])) % 360


class ShopPages:
    """The shop's routes over one catalog and one template environment."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.products = catalog.by_id
        self.env = Environment(loader=PackageLoader("fidelia.demo", "templates"), autoescape=True,
                               undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        self.assets = load_folder(STATIC_DIR)
        self.env.filters["price"] = format_price
        self.env.globals.update(rubrique_path=rubrique_path, hue=product_hue, SITE_ID=SITE_ID,
                                COMPLAINT_TOPICS=COMPLAINT_TOPICS, PROMOTIONS=PROMOTIONS)

    def routes(self) -> list[Route]:
        return [
            Route("/shop", self.home, name="shop_home"),
            Route("/shop/r/{slug}", self.rubrique, name="shop_rubrique"),
            Route("/shop/p/{product_id}", self.product, name="shop_product"),
            Route("/shop/search", self.search, name="shop_search"),
            Route("/shop/cart", self.cart, name="shop_cart"),
            Route("/shop/checkout", self.checkout, name="shop_checkout"),
            Route("/shop/account", self.account, methods=["GET", "POST"], name="shop_account"),
            Route("/shop/complaint", self.complaint, name="shop_complaint"),
            Route("/shop/static/{file}", self.static, name="shop_static"),
            Route("/shop/{rest:path}", self.unknown_page),
        ]

    async def home(self, request: Request) -> Response:
        lang = lang_of(request)
        return self.render(request, "home.html", lang, for_you=self.catalog.best_sellers(FOR_YOU_SIZE),
                           counts={r.slug: len(self.catalog.in_rubrique(r.slug)) for r in self.catalog.rubriques})

    async def rubrique(self, request: Request) -> Response:
        lang = lang_of(request)
        rubrique = self.catalog.rubrique(request.path_params["slug"])
        if rubrique is None:
            return await self.not_found(request)
        return self.render(request, "rubrique.html", lang, body_rubrique=rubrique.slug, rubrique=rubrique,
                           products=self.catalog.in_rubrique(rubrique.slug))

    async def product(self, request: Request) -> Response:
        lang = lang_of(request)
        product = self.products.get(request.path_params["product_id"])
        if product is None:
            return await self.not_found(request)
        similar = [p for p in self.catalog.best_sellers(SIMILAR_SIZE + 1, product.rubrique) if p != product]
        return self.render(request, "product.html", lang, body_rubrique=product.rubrique, product=product,
                           rubrique=self.catalog.rubrique(product.rubrique), similar=similar[:SIMILAR_SIZE])

    async def search(self, request: Request) -> Response:
        lang = lang_of(request)
        query = request.query_params.get("q", "").strip()[:MAX_QUERY]
        found = self.catalog.search(query, lang) if query else []
        return self.render(request, "search.html", lang, query=query, found=len(found),
                           products=found[:SEARCH_LIMIT])

    async def cart(self, request: Request) -> Response:
        return self.render(request, "cart.html", lang_of(request))

    async def checkout(self, request: Request) -> Response:
        return self.render(request, "checkout.html", lang_of(request))

    async def account(self, request: Request) -> Response:
        lang = lang_of(request)
        if request.method == "POST":
            return await self.sign_in_or_out(request, lang)
        customer_id = request.cookies.get(CUSTOMER_COOKIE, "")
        customer = customer_id if CUSTOMER_ID.match(customer_id) else None
        # `signed_in` marks the page right after signing in: the one that sends `identify`.
        return self.render(request, "account.html", lang, customer_id=customer,
                           signed_in=customer is not None and "signed_in" in request.query_params, error=False)

    async def sign_in_or_out(self, request: Request, lang: str) -> Response:
        form = await read_form(request, MAX_FORM_BYTES)
        account = request.url_for("shop_account")
        if form.get("action") == "sign_out":
            response = RedirectResponse(account, status_code=303)
            response.delete_cookie(CUSTOMER_COOKIE, path="/shop")
            return response
        email = form.get("email", "").strip()
        if not EMAIL.match(email):
            return self.render(request, "account.html", lang, status=400, customer_id=None, signed_in=False,
                               error=True)
        # The shop keeps its customer id in its own cookie; the email goes no further than here.
        response = RedirectResponse(account.include_query_params(signed_in=1), status_code=303)
        response.set_cookie(CUSTOMER_COOKIE, customer_id_for(email), max_age=COOKIE_MAX_AGE, path="/shop",
                            httponly=True, samesite="lax")
        return response

    async def complaint(self, request: Request) -> Response:
        return self.render(request, "complaint.html", lang_of(request))

    async def static(self, request: Request) -> Response:
        asset = self.assets.get(request.path_params["file"])
        if asset is None:
            return await self.not_found(request)
        headers = {"ETag": asset.etag, "Cache-Control": "public, max-age=300"}
        if request.headers.get("if-none-match") == asset.etag:
            return Response(status_code=304, headers=headers)
        return Response(asset.body, media_type=asset.media_type, headers=headers)

    async def unknown_page(self, request: Request) -> Response:
        # This catch-all hides the router's trailing-slash redirect (`/shop/` → `/shop`): done here.
        path = request.url.path
        if path.endswith("/"):
            return RedirectResponse(request.url.replace(path=path.rstrip("/")), status_code=307)
        return await self.not_found(request)

    async def not_found(self, request: Request) -> Response:
        # An empty declaration: the URL rules must not read `/shop/r/nope` as a rubrique.
        return self.render(request, "not_found.html", lang_of(request), status=404, body_rubrique="")

    def render(self, request: Request, template: str, lang: str, status: int = 200,
               body_rubrique: str | None = None, **context: Any) -> Response:
        labels = {key: pair[LANGS.index(lang)] for key, pair in LABELS.items()}
        page = {
            "lang": lang,
            "t": labels,
            "rubriques": self.catalog.rubriques,
            "body_rubrique": body_rubrique,
            "lang_links": {code: lang_link(request, code) for code in LANGS},
            "url": lambda route, **params: str(request.url_for(route, **params)),
            "shop_data": {"lang": lang, "labels": {k: labels[k] for k in SCRIPT_LABELS}},
        }
        nonce = secrets.token_urlsafe(16)
        html = self.env.get_template(template).render(**page, **context, csp_nonce=nonce)
        response = HTMLResponse(html, status_code=status, headers=shop_security_headers(nonce))
        if request.query_params.get("lang") in LANGS:
            response.set_cookie(LANG_COOKIE, lang, max_age=COOKIE_MAX_AGE, path="/shop", httponly=True,
                                samesite="lax")
        return response


def shop_security_headers(nonce: str) -> dict[str, str]:
    """The shop's pages embed the snippet the way a real shop does, inline: those scripts carry a
    per-response nonce and nothing else inline runs. Inline style attributes (the thumbnails' hue)
    are allowed; every value in them is escaped."""
    return {
        "Content-Security-Policy": f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; "
                                   "style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
                                   "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "X-Frame-Options": "DENY",
    }


def lang_of(request: Request) -> str:
    """`?lang=` wins and is remembered in the `lang` cookie; French by default."""
    for candidate in (request.query_params.get("lang"), request.cookies.get(LANG_COOKIE)):
        if candidate in LANGS:
            return candidate
    return DEFAULT_LANG


def lang_link(request: Request, lang: str) -> str:
    """The current page in another language: a query-only link that keeps the other parameters."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    return "?" + urlencode([*params, ("lang", lang)])


def shop_routes() -> list[Route]:
    """The demo shop's routes, mounted by `build_app(..., demo=True)` (`fidelia serve --demo`)."""
    return ShopPages(demo_catalog()).routes()
