"""Retention: ClickHouse's TTL on `events`, and on the tables fed from it, removes what is older
than FIDELIA_RETENTION_DAYS."""

from __future__ import annotations

from fidelia.store import Store
from tests.conftest import count_events

RETENTION_DAYS = 760  # what the session store was migrated with (tests/conftest.py)


def one_old_and_one_recent_pageview(store: Store, site_id: str) -> int:
    """A page view 30 days past the retention and one 30 days inside it (session id = its age in
    days); returns the partition of the old one."""
    for days in (RETENTION_DAYS + 30, RETENTION_DAYS - 30):
        store.client.command(
            "INSERT INTO events (event_id, ts, received_at, site_id, visitor_id, session_id, event_type) "
            "SELECT generateUUIDv4(), now64(3) - toIntervalDay({d:UInt32}), now64(3), {s:String}, 'v', "
            "toString({d:UInt32}), 'pageview'", parameters={"d": days, "s": site_id})
    return int(store.client.query("SELECT toYYYYMM(now64(3) - toIntervalDay({d:UInt32}))",
                                  parameters={"d": RETENTION_DAYS + 30}).result_rows[0][0])


def test_events_older_than_the_retention_are_removed_by_the_ttl(store: Store, site_id: str) -> None:
    old = one_old_and_one_recent_pageview(store, site_id)
    # ClickHouse applies the TTL when it writes a part (already expired rows never land) and at
    # merges; force the merge of the old row's partition rather than wait for one.
    store.client.command(f"OPTIMIZE TABLE events PARTITION {old} FINAL")
    assert count_events(store, site_id) == 1
    kept = store.client.query("SELECT dateDiff('day', ts, now64(3)) FROM events WHERE site_id = {s:String}",
                              parameters={"s": site_id}).result_rows
    assert [tuple(row) for row in kept] == [(RETENTION_DAYS - 30,)]


def test_visit_summaries_older_than_the_retention_are_removed_by_the_ttl_6(store: Store, site_id: str) -> None:
    old = one_old_and_one_recent_pageview(store, site_id)
    store.client.command(f"OPTIMIZE TABLE visit_days PARTITION {old} FINAL")
    kept = store.client.query("SELECT session_id FROM visit_days WHERE site_id = {s:String}",
                              parameters={"s": site_id}).result_rows
    assert [tuple(row) for row in kept] == [(str(RETENTION_DAYS - 30),)]
