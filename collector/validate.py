"""The `/collect` wire format: decoding and checking a batch before anything is kept.

msgspec decodes and type-checks in one pass (a few microseconds for a typical batch);
the rules msgspec cannot express follow. A batch is accepted whole or refused whole, so a
refused request stores nothing. Every error names the field (`events[2].price`).
"""

from __future__ import annotations

import math
from typing import Any

import msgspec

from fidelia.errors import InvalidEvent, InvalidJSON, TooManyEvents

EVENT_TYPES = frozenset({
    "pageview", "product_view", "add_to_cart", "remove_from_cart", "purchase", "search",
    "identify", "survey", "complaint",
    # the recommender's own measurement: an offer shown (props: slot, strategy, holdout, products)
    # and one of its products clicked (product_id; props: slot, strategy, holdout)
    "reco_impression", "reco_click",
})
PRODUCT_EVENTS = frozenset({"product_view", "add_to_cart", "remove_from_cart", "reco_click"})
HTTP_SCHEMES = ("http://", "https://")
MAX_URL = 2048
MAX_ID = 128
MAX_RUBRIQUE = 64
MAX_TEXT = 512
MAX_ITEMS = 100


class Item(msgspec.Struct, forbid_unknown_fields=False):
    """One line of a cart or an order."""

    product_id: str
    price: float | None = None
    quantity: int = 1
    rubrique: str | None = None
    name: str | None = None


class EventIn(msgspec.Struct, forbid_unknown_fields=False):
    """One event as a browser or a server-side tracker sends it."""

    type: str
    url: str | None = None
    referrer: str | None = None
    rubrique: str | None = None
    ts: int | None = None
    props: dict[str, Any] | None = None
    product_id: str | None = None
    price: float | None = None
    quantity: int | None = None
    order_id: str | None = None
    revenue: float | None = None
    items: list[Item] | None = None
    customer_id: str | None = None
    query: str | None = None
    satisfaction: int | None = None
    nps: int | None = None


class BatchIn(msgspec.Struct, forbid_unknown_fields=False):
    site_id: str
    events: list[EventIn]


BATCH_DECODER = msgspec.json.Decoder(BatchIn)


def decode_batch(body: bytes, max_events: int) -> BatchIn:
    """Decode and check a `/collect` body; raise a 4xx error naming the field otherwise."""
    try:
        batch = BATCH_DECODER.decode(body)
    except msgspec.ValidationError as exc:
        raise InvalidEvent(_explain(exc), field=_field_of(exc)) from None
    except msgspec.DecodeError as exc:
        raise InvalidJSON(f"body is not valid JSON: {exc}") from None
    check_batch(batch, max_events)
    return batch


def event_from_query(params: dict[str, str]) -> BatchIn:
    """The one event a `/p.gif` pixel carries in its query string (numbers arrive as text)."""
    fields = {k: v for k, v in params.items() if k in EventIn.__struct_fields__ and k not in ("items", "props")}
    try:
        event = msgspec.convert(fields, EventIn, strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidEvent(_explain(exc).replace("$.", ""), field=_field_of(exc)) from None
    site_id = params.get("site_id")
    if not site_id:
        raise InvalidEvent("site_id is missing from the pixel's query string", field="site_id")
    batch = BatchIn(site_id=site_id, events=[event])
    check_batch(batch, 1)
    return batch


def _explain(exc: msgspec.ValidationError) -> str:
    text = str(exc)
    if "Object missing required field" in text:
        return text.replace("Object missing required field", "missing required field")
    return text


def _field_of(exc: msgspec.ValidationError) -> str | None:
    text = str(exc)
    if "- at `" in text:
        path = text.rsplit("- at `", 1)[1].rstrip("`")
        path = path.removeprefix("$").lstrip(".")
        if "missing required field" in text:
            name = text.split("`", 2)[1]
            return f"{path}.{name}" if path else name
        return path or None
    if "missing required field" in text:
        return text.split("`", 2)[1]
    return None


def check_batch(batch: BatchIn, max_events: int) -> None:
    """The rules beyond types: sizes, ranges, required fields per event type."""
    if not batch.site_id:
        raise InvalidEvent("site_id is empty", field="site_id")
    if not batch.events:
        raise InvalidEvent("events is empty: send at least one event", field="events")
    if len(batch.events) > max_events:
        raise TooManyEvents(
            f"{len(batch.events)} events in one batch, at most {max_events} allowed: split the batch",
            field="events",
        )
    for i, event in enumerate(batch.events):
        # The common event passes one cheap test; the field-by-field walk below runs for the
        # rest and names what is wrong (this loop is the collector's hottest Python code).
        if not _plainly_valid(event):
            _check_event(event, f"events[{i}]")


def _plainly_valid(e: EventIn) -> bool:
    """A pageview or product event with short text fields and nothing else to check."""
    url = e.url
    return (
        url is not None and len(url) <= MAX_URL and url.startswith(HTTP_SCHEMES)
        and (e.type == "pageview" or (e.type in PRODUCT_EVENTS and bool(e.product_id)))
        and (e.referrer is None or e.referrer == "" or (len(e.referrer) <= MAX_URL
                                                        and e.referrer.startswith(HTTP_SCHEMES)))
        and (e.rubrique is None or len(e.rubrique) <= MAX_RUBRIQUE)
        and (e.product_id is None or len(e.product_id) <= MAX_ID)
        and (e.price is None or 0 <= e.price <= 1e9)
        and e.order_id is None and e.customer_id is None and e.query is None and e.revenue is None
        and (e.quantity is None or 0 < e.quantity <= 100_000) and (e.ts is None or e.ts > 0) and e.items is None
        and e.satisfaction is None and e.nps is None
    )


def _check_event(e: EventIn, at: str) -> None:
    if e.type not in EVENT_TYPES:
        shown = e.type[:40]
        raise InvalidEvent(f"{at}.type {shown!r} is not one of {', '.join(sorted(EVENT_TYPES))}", field=f"{at}.type")
    if e.type == "pageview" and not e.url:
        raise InvalidEvent(f"{at}.url is required for a pageview", field=f"{at}.url")
    _check_url(e.url, f"{at}.url")
    _check_url(e.referrer, f"{at}.referrer", allow_empty=True)
    for name, limit in (("rubrique", MAX_RUBRIQUE), ("product_id", MAX_ID), ("order_id", MAX_ID),
                        ("customer_id", MAX_ID), ("query", MAX_TEXT)):
        value = getattr(e, name)
        if value is not None and len(value) > limit:
            raise InvalidEvent(f"{at}.{name} is {len(value)} characters long, at most {limit}", field=f"{at}.{name}")
    for name in ("price", "revenue"):
        value = getattr(e, name)
        if value is not None and (not math.isfinite(value) or value < 0 or value > 1e9):
            raise InvalidEvent(f"{at}.{name} must be a finite amount between 0 and 1e9", field=f"{at}.{name}")
    if e.quantity is not None and not 0 < e.quantity <= 100_000:
        raise InvalidEvent(f"{at}.quantity must be between 1 and 100000", field=f"{at}.quantity")
    if e.ts is not None and e.ts <= 0:
        raise InvalidEvent(f"{at}.ts must be epoch milliseconds", field=f"{at}.ts")
    _check_by_type(e, at)


def _check_by_type(e: EventIn, at: str) -> None:
    if e.type in PRODUCT_EVENTS and not e.product_id:
        raise InvalidEvent(f"{at}.product_id is required for {e.type}", field=f"{at}.product_id")
    if e.type == "purchase" and not e.order_id:
        raise InvalidEvent(f"{at}.order_id is required for a purchase", field=f"{at}.order_id")
    if e.type == "identify" and not e.customer_id:
        raise InvalidEvent(f"{at}.customer_id is required for identify", field=f"{at}.customer_id")
    if e.type == "survey" and e.satisfaction is None and e.nps is None:
        raise InvalidEvent(f"{at}: a survey needs satisfaction (1-5) or nps (0-10)", field=f"{at}.satisfaction")
    if e.satisfaction is not None and not 1 <= e.satisfaction <= 5:
        raise InvalidEvent(f"{at}.satisfaction must be 1 to 5", field=f"{at}.satisfaction")
    if e.nps is not None and not 0 <= e.nps <= 10:
        raise InvalidEvent(f"{at}.nps must be 0 to 10", field=f"{at}.nps")
    if e.items is not None:
        if len(e.items) > MAX_ITEMS:
            raise InvalidEvent(f"{at}.items holds {len(e.items)} lines, at most {MAX_ITEMS}", field=f"{at}.items")
        for j, item in enumerate(e.items):
            where = f"{at}.items[{j}]"
            if not item.product_id or len(item.product_id) > MAX_ID:
                raise InvalidEvent(f"{where}.product_id must be 1 to {MAX_ID} characters", field=f"{where}.product_id")
            if item.price is not None and (not math.isfinite(item.price) or not 0 <= item.price <= 1e9):
                raise InvalidEvent(f"{where}.price must be a finite amount between 0 and 1e9", field=f"{where}.price")
            if not 0 < item.quantity <= 100_000:
                raise InvalidEvent(f"{where}.quantity must be between 1 and 100000", field=f"{where}.quantity")


def _check_url(url: str | None, field: str, allow_empty: bool = False) -> None:
    if url is None or (allow_empty and url == ""):
        return
    if len(url) > MAX_URL:
        raise InvalidEvent(f"{field} is {len(url)} characters long, at most {MAX_URL}", field=field)
    if not url.startswith(HTTP_SCHEMES):
        raise InvalidEvent(f"{field} must be an absolute http(s) URL", field=field)
