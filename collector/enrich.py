"""Validated events → rows of the `events` table.

The same code serves the HTTP collector and the simulator's bulk mode, so both produce
the same rows. A row is a list in EVENT_COLUMNS order; `rows_to_arrow` turns a batch of
them into the Arrow table the writer inserts. No client IP enters a row: it is never read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

import msgspec
import pyarrow as pa

from collector.cookies import VisitState
from collector.ids import random_bytes
from collector.useragent import UserAgentInfo
from collector.validate import BatchIn, EventIn
from fidelia.errors import InvalidEvent
from fidelia.sites import Site

EVENT_SCHEMA = pa.schema([
    ("event_id", pa.binary(16)),
    ("ts", pa.timestamp("ms", tz="UTC")),
    ("received_at", pa.timestamp("ms", tz="UTC")),
    ("site_id", pa.string()),
    ("visitor_id", pa.string()),
    ("session_id", pa.string()),
    ("customer_id", pa.string()),
    ("event_type", pa.string()),
    ("url", pa.string()),
    ("path", pa.string()),
    ("referrer", pa.string()),
    ("utm_source", pa.string()),
    ("utm_medium", pa.string()),
    ("utm_campaign", pa.string()),
    ("rubrique", pa.string()),
    ("product_id", pa.string()),
    ("price", pa.float64()),
    ("quantity", pa.uint32()),
    ("order_id", pa.string()),
    ("revenue", pa.float64()),
    ("items", pa.string()),
    ("search_query", pa.string()),
    ("satisfaction", pa.uint8()),
    ("nps", pa.uint8()),
    ("browser", pa.string()),
    ("os", pa.string()),
    ("device_type", pa.string()),
    ("is_bot", pa.uint8()),
    ("consent", pa.string()),
    ("props", pa.string()),
])
EVENT_COLUMNS = tuple(EVENT_SCHEMA.names)
# One row in EVENT_COLUMNS order. A tuple: tuples of plain values drop out of the garbage
# collector's tracking, and the writer holds up to FIDELIA_FLUSH_ROWS of them between inserts.
Row = tuple[Any, ...]
JSON = msgspec.json.Encoder()
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign")
MAX_UTM = 128


class RequestContext(NamedTuple):
    """What the collector knows about a request besides its body (a NamedTuple: built per
    request, and a frozen dataclass costs a microsecond to build)."""

    received_ms: int
    ua: UserAgentInfo
    max_age_ms: int
    session_timeout_ms: int
    consent: str = "implied"  # the consent policy's decision (collector/consent.py)


def split_url(url: str) -> tuple[str, str, str, str]:
    """Path and UTM parameters of a page URL ('' where absent)."""
    if not url:
        return "", "", "", ""
    parts = urlsplit(url)
    if "utm_" not in parts.query:
        return parts.path, "", "", ""
    query = parse_qs(parts.query)
    utm = [query.get(key, [""])[0][:MAX_UTM] for key in UTM_KEYS]
    return parts.path, utm[0], utm[1], utm[2]


def event_ts(event: EventIn, ctx: RequestContext, index: int) -> int:
    """The event's own time bounded by the server clock: never in the future, not too old."""
    if event.ts is None or event.ts > ctx.received_ms:
        return ctx.received_ms
    if ctx.received_ms - event.ts > ctx.max_age_ms:
        days = ctx.max_age_ms // 86_400_000
        at = f"events[{index}].ts"
        raise InvalidEvent(f"{at} is more than {days} days old (FIDELIA_MAX_EVENT_AGE_DAYS)", field=at)
    return event.ts


def build_rows(batch: BatchIn, site: Site, visit: VisitState, ctx: RequestContext) -> list[Row]:
    """One row per event, sessions assigned in order; raises before returning anything on a bad ts."""
    stamps = [event_ts(event, ctx, i) for i, event in enumerate(batch.events)]
    rows = []
    for event, ts in zip(batch.events, stamps, strict=True):
        session_id = visit.session_for(ts, ctx.session_timeout_ms)
        rows.append(event_row(event, ts, site, visit.visitor_id, session_id, ctx))
    return rows


def event_row(
    e: EventIn, ts: int, site: Site, visitor_id: str, session_id: str, ctx: RequestContext
) -> Row:
    url = e.url or ""
    path, utm_source, utm_medium, utm_campaign = split_url(url)
    rubrique = e.rubrique if e.rubrique is not None else site.rubrique_for(path)
    ua = ctx.ua
    return (
        random_bytes(16), ts, ctx.received_ms, site.site_id, visitor_id, session_id, e.customer_id or "",
        e.type, url, path, e.referrer or "", utm_source, utm_medium, utm_campaign, rubrique,
        e.product_id or "", e.price, e.quantity, e.order_id or "", e.revenue,
        JSON.encode(e.items).decode() if e.items else "", e.query or "", e.satisfaction, e.nps,
        ua.browser, ua.os, ua.device_type, ua.is_bot, ctx.consent,
        JSON.encode(e.props).decode() if e.props else "",
    )


def rows_to_arrow(rows: Sequence[Sequence[Any]]) -> pa.Table:
    """The Arrow table of a batch of rows, typed as the `events` table expects."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(EVENT_COLUMNS)
    return pa.Table.from_arrays(
        [pa.array(col, type=field.type) for col, field in zip(columns, EVENT_SCHEMA, strict=True)],
        schema=EVENT_SCHEMA,
    )
