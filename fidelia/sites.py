"""The sites Fidelia collects for: ids, allowed origins, rubrique URL rules, consent mode.

Read once at start-up from a TOML file (FIDELIA_SITES_FILE, else the built-in demo site).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fidelia.errors import InvalidSitesConfig, UnknownSite

DEFAULT_SITES_FILE = Path(__file__).with_name("default_sites.toml")
SITE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
CONSENT_MODES = ("opt-out", "opt-in")


@dataclass(frozen=True)
class RubriqueRule:
    """Maps a URL path to a rubrique: a regex with a `rubrique` group, or a path prefix."""

    pattern: re.Pattern[str]
    rubrique: str | None

    def match(self, path: str) -> str | None:
        found = self.pattern.search(path)
        if not found:
            return None
        if self.rubrique is not None:
            return self.rubrique
        return found.groupdict().get("rubrique") or ""


@dataclass(frozen=True)
class Site:
    site_id: str
    name: str
    origins: frozenset[str]
    consent: str
    rubrique_rules: tuple[RubriqueRule, ...]
    honour_gpc: bool = False  # Sec-GPC: 1 or DNT: 1 counts as a refusal

    def rubrique_for(self, path: str) -> str:
        """The rubrique of a page that did not declare one: the first matching rule, else none."""
        for rule in self.rubrique_rules:
            found = rule.match(path)
            if found is not None:
                return found
        return ""

    def allows_origin(self, origin: str, own_origin: str) -> bool:
        """Browsers may post from the site's listed origins or from the collector's own origin."""
        return origin == own_origin or origin in self.origins


class SiteRegistry:
    """The configured sites by id."""

    def __init__(self, sites: list[Site], source: Path) -> None:
        self.source = source
        self._sites = {site.site_id: site for site in sites}
        self.all = list(sites)

    def __contains__(self, site_id: object) -> bool:
        return site_id in self._sites

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._sites.values())

    def get(self, site_id: str) -> Site:
        site = self._sites.get(site_id)
        if site is None:
            shown = site_id if len(site_id) <= 64 else site_id[:64] + "…"
            raise UnknownSite(
                f"site_id {shown!r} is not configured; known sites: {', '.join(sorted(self._sites))}",
                field="site_id",
            )
        return site

    @classmethod
    def load(cls, sites_file: str) -> SiteRegistry:
        path = Path(sites_file) if sites_file else DEFAULT_SITES_FILE
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise InvalidSitesConfig(f"FIDELIA_SITES_FILE={sites_file!r}: no such file") from None
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise InvalidSitesConfig(f"sites file {path} cannot be read: {exc}") from None
        entries = data.get("site")
        if not isinstance(entries, list) or not entries:
            raise InvalidSitesConfig(f"sites file {path} has no [[site]] entry")
        sites = [_parse_site(entry, path, n) for n, entry in enumerate(entries, 1)]
        ids = [site.site_id for site in sites]
        if len(set(ids)) != len(ids):
            raise InvalidSitesConfig(f"sites file {path} lists a site id twice: {ids}")
        return cls(sites, path)


def _parse_site(entry: dict[str, Any], path: Path, n: int) -> Site:
    where = f"sites file {path}, site #{n}"
    site_id = entry.get("id")
    if not isinstance(site_id, str) or not SITE_ID.match(site_id):
        raise InvalidSitesConfig(f"{where}: id {site_id!r} must be lowercase letters, digits, - or _")
    consent = entry.get("consent", "opt-out")
    if consent not in CONSENT_MODES:
        raise InvalidSitesConfig(f"{where} ({site_id}): consent {consent!r} must be one of {CONSENT_MODES}")
    origins = entry.get("origins", [])
    if not isinstance(origins, list) or not all(isinstance(o, str) for o in origins):
        raise InvalidSitesConfig(f"{where} ({site_id}): origins must be a list of strings")
    honour_gpc = entry.get("honour_gpc", False)
    if not isinstance(honour_gpc, bool):
        raise InvalidSitesConfig(f"{where} ({site_id}): honour_gpc {honour_gpc!r} must be true or false")
    rules = tuple(_parse_rule(rule, f"{where} ({site_id})") for rule in entry.get("rubrique_rules", []))
    return Site(site_id, str(entry.get("name", site_id)), frozenset(o.rstrip("/") for o in origins), consent, rules,
                honour_gpc)


def _parse_rule(rule: dict[str, Any], where: str) -> RubriqueRule:
    rubrique = rule.get("rubrique")
    if "prefix" in rule:
        if not isinstance(rubrique, str):
            raise InvalidSitesConfig(f"{where}: a rule with a prefix needs a rubrique")
        return RubriqueRule(re.compile("^" + re.escape(rule["prefix"])), rubrique)
    if "pattern" in rule:
        try:
            pattern = re.compile(rule["pattern"])
        except re.error as exc:
            raise InvalidSitesConfig(f"{where}: pattern {rule['pattern']!r} is not a valid regex: {exc}") from None
        if rubrique is None and "rubrique" not in pattern.groupindex:
            raise InvalidSitesConfig(
                f"{where}: pattern {rule['pattern']!r} needs a (?P<rubrique>…) group or a rubrique"
            )
        return RubriqueRule(pattern, rubrique)
    raise InvalidSitesConfig(f"{where}: a rubrique rule needs a prefix or a pattern")
