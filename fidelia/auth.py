"""API keys with scopes, for the server-to-server routes.

Keys are never stored: FIDELIA_API_KEYS holds `scope+scope=<sha256 of the key>` entries, made
by `fidelia keys new`. A presented key (`Authorization: Bearer …` or `X-API-Key: …`) is hashed
and compared to every entry in constant time. Errors say what is missing, never which keys exist.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from starlette.requests import Request

from fidelia.errors import FideliaError, InvalidSetting

SCOPES = ("profiles", "reports", "admin")
ENTRY = re.compile(r"^([a-z+]+)=([0-9a-f]{64})$")


class Unauthorized(FideliaError):
    """No API key, or not a valid one."""

    status = 401
    code = "unauthorized"


class Forbidden(FideliaError):
    """A valid API key without the scope the route needs."""

    status = 403
    code = "forbidden"


@dataclass(frozen=True)
class ApiKey:
    scopes: frozenset[str]
    digest: bytes


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key(scopes: list[str]) -> tuple[str, str]:
    """A fresh key and the FIDELIA_API_KEYS entry that accepts it."""
    key = "fk_" + secrets.token_urlsafe(32)
    return key, f"{'+'.join(scopes)}={hash_key(key)}"


class ApiKeys:
    def __init__(self, keys: list[ApiKey]) -> None:
        self.keys = keys

    @classmethod
    def parse(cls, raw: str) -> ApiKeys:
        keys = []
        for entry in filter(None, (part.strip() for part in raw.split(","))):
            match = ENTRY.match(entry)
            scopes = set(match.group(1).split("+")) if match else set()
            if not match or not scopes <= set(SCOPES):
                raise InvalidSetting(f"FIDELIA_API_KEYS entry {entry[:20]!r}… is not `scope+scope=<sha256 hex>` "
                                     f"with scopes among {', '.join(SCOPES)}: make one with `fidelia keys new`")
            keys.append(ApiKey(frozenset(scopes), bytes.fromhex(match.group(2))))
        return cls(keys)

    def require(self, request: Request, scope: str) -> None:
        """Raise 401 without a valid key, 403 when the key lacks `scope` (admin covers every scope)."""
        presented = request.headers.get("x-api-key") or _bearer(request.headers.get("authorization", ""))
        if not presented:
            raise Unauthorized("this route needs an API key: send `Authorization: Bearer <key>`")
        digest = hashlib.sha256(presented.encode()).digest()
        matched = None
        for key in self.keys:  # compare with every key, found or not, so timing says nothing
            if hmac.compare_digest(digest, key.digest):
                matched = key
        if matched is None:
            raise Unauthorized("the API key is not valid")
        if scope not in matched.scopes and "admin" not in matched.scopes:
            raise Forbidden(f"the API key lacks the {scope!r} scope")


def _bearer(header: str) -> str:
    kind, _, value = header.partition(" ")
    return value.strip() if kind.lower() == "bearer" else ""
