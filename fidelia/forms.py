"""Reading the small urlencoded forms of the app's own pages (demo shop, dashboard login)."""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.requests import Request


async def read_form(request: Request, max_bytes: int) -> dict[str, str]:
    """The form's first value per field; a body over `max_bytes` is cut there, never read whole."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            break
    fields = parse_qs(body[:max_bytes].decode("utf-8", "replace"))
    return {key: values[0] for key, values in fields.items()}
