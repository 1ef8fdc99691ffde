"""Sites config: loading, rubrique rules, origins, and clear errors on a bad file."""

from __future__ import annotations

from pathlib import Path

import pytest

from fidelia.errors import InvalidSitesConfig, UnknownSite
from fidelia.sites import SiteRegistry


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "sites.toml"
    path.write_text(text)
    return str(path)


def test_builtin_demo_site() -> None:
    sites = SiteRegistry.load("")
    demo = sites.get("demo")
    assert demo.consent == "opt-out"
    assert demo.rubrique_for("/shop/r/chaussures") == "chaussures"
    assert demo.rubrique_for("/shop/cart") == ""
    assert demo.rubrique_for("/about") == ""


def test_rules_apply_in_order_prefix_and_pattern(tmp_path: Path) -> None:
    sites = SiteRegistry.load(write(tmp_path, """
[[site]]
id = "boutique"
origins = ["https://boutique.example/"]
[[site.rubrique_rules]]
prefix = "/fr/soldes/"
rubrique = "soldes"
[[site.rubrique_rules]]
pattern = "^/fr/(?P<rubrique>[a-z-]+)/"
"""))
    site = sites.get("boutique")
    assert site.rubrique_for("/fr/soldes/robes/") == "soldes"
    assert site.rubrique_for("/fr/robes/p-12") == "robes"
    assert site.allows_origin("https://boutique.example", own_origin="http://collector")
    assert site.allows_origin("http://collector", own_origin="http://collector")
    assert not site.allows_origin("https://evil.example", own_origin="http://collector")


def test_unknown_site_lists_the_known_ones() -> None:
    with pytest.raises(UnknownSite) as caught:
        SiteRegistry.load("").get("nope")
    assert caught.value.status == 404 and "demo" in caught.value.message and caught.value.field == "site_id"


@pytest.mark.parametrize("text, hint", [
    ("[[site]]\nid = 'Bad Id'\n", "id 'Bad Id'"),
    ("[[site]]\nid = 'a'\nconsent = 'always'\n", "consent 'always'"),
    ("[[site]]\nid = 'a'\n[[site]]\nid = 'a'\n", "twice"),
    ("[[site]]\nid = 'a'\n[[site.rubrique_rules]]\npattern = '('\n", "not a valid regex"),
    ("[[site]]\nid = 'a'\n[[site.rubrique_rules]]\npattern = '^/x'\n", "needs a (?P<rubrique>"),
    ("[[site]]\nid = 'a'\n[[site.rubrique_rules]]\nrubrique = 'x'\n", "needs a prefix or a pattern"),
    ("title = 'no sites'\n", "no [[site]]"),
    ("[[site]\n", "cannot be read"),
])
def test_bad_sites_file_is_explained(tmp_path: Path, text: str, hint: str) -> None:
    with pytest.raises(InvalidSitesConfig) as caught:
        SiteRegistry.load(write(tmp_path, text))
    assert hint in caught.value.message


def test_missing_sites_file_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(InvalidSitesConfig, match="FIDELIA_SITES_FILE"):
        SiteRegistry.load(str(tmp_path / "nowhere.toml"))
