"""The `/t.js` snippet: read once, comments and indentation stripped, served with an ETag."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

SOURCE = Path(__file__).parent / "static" / "t.js"
VERSION = "1"


def minify(source: str) -> str:
    """Drop whole-line comments and indentation; newlines stay so semicolon insertion is unchanged."""
    lines = (line.strip() for line in source.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("//")) + "\n"


@dataclass(frozen=True)
class Snippet:
    body: bytes
    gzipped: bytes
    etag: str

    @classmethod
    def load(cls) -> Snippet:
        body = minify(SOURCE.read_text()).encode()
        digest = hashlib.sha256(body).hexdigest()[:16]
        return cls(body, gzip.compress(body, 9, mtime=0), f'"{VERSION}-{digest}"')
