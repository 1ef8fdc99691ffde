"""The fast path of `check_batch` never lets through what the full field-by-field check refuses."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from collector.validate import EVENT_TYPES, MAX_ID, MAX_RUBRIQUE, MAX_URL, EventIn, _check_event, _plainly_valid
from fidelia.errors import InvalidEvent

URLS = st.one_of(st.none(), st.just(""), st.just("javascript:x"), st.just("https://shop.example/p"),
                 st.builds(lambda n: "https://s.example/" + "a" * n, st.integers(MAX_URL - 30, MAX_URL)))
TEXT = st.one_of(st.none(), st.just(""), st.text(max_size=3),
                 st.builds(lambda n: "x" * n, st.sampled_from([MAX_RUBRIQUE, MAX_RUBRIQUE + 1, MAX_ID, MAX_ID + 1])))
NUMBER = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, 1e9, 1e9 + 1]))
SMALL_INT = st.one_of(st.none(), st.integers(-2, 3), st.sampled_from([100_000, 100_001]))

EVENTS = st.builds(
    EventIn,
    type=st.sampled_from([*sorted(EVENT_TYPES), "teleport"]),
    url=URLS, referrer=URLS, rubrique=TEXT, product_id=TEXT, price=NUMBER, quantity=SMALL_INT,
    ts=st.one_of(st.none(), st.integers(-1, 2)), order_id=st.one_of(st.none(), st.just("o")),
    revenue=NUMBER, customer_id=st.one_of(st.none(), st.just("c")), satisfaction=SMALL_INT, nps=SMALL_INT,
)


@given(EVENTS)
def test_an_event_the_fast_check_passes_passes_the_full_check(event: EventIn) -> None:
    if _plainly_valid(event):
        _check_event(event, "events[0]")  # raises InvalidEvent if the fast path was wrong


@given(EVENTS)
def test_the_fast_check_passes_the_common_events(event: EventIn) -> None:
    try:
        _check_event(event, "events[0]")
    except InvalidEvent:
        assert not _plainly_valid(event)
        return
    plain = (event.type in ("pageview", "product_view") and event.order_id is None and event.customer_id is None
             and event.revenue is None and event.satisfaction is None and event.nps is None
             and (event.price is None or math.isfinite(event.price)))
    if plain:
        assert _plainly_valid(event)
