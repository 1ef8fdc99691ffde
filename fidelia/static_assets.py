"""Files the app serves itself (the demo shop's and the dashboard's): read once at start-up, with
an ETag from their content, so a page can version their URLs and let browsers cache them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

MEDIA_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
               ".md": "text/plain; charset=utf-8", ".svg": "image/svg+xml"}


@dataclass(frozen=True)
class StaticAsset:
    body: bytes
    media_type: str
    etag: str

    @classmethod
    def load(cls, path: Path) -> StaticAsset:
        body = path.read_bytes()
        return cls(body, MEDIA_TYPES[path.suffix], '"' + hashlib.sha256(body).hexdigest()[:16] + '"')


def load_folder(folder: Path) -> dict[str, StaticAsset]:
    """Every servable file of a folder, by name."""
    return {path.name: StaticAsset.load(path) for path in folder.iterdir() if path.suffix in MEDIA_TYPES}
