"""Retention: ClickHouse's TTL on `events` removes what is older than FIDELIA_RETENTION_DAYS."""

from __future__ import annotations

from fidelia.store import Store
from tests.conftest import count_events

RETENTION_DAYS = 760  # what the session store was migrated with (tests/conftest.py)


def test_events_older_than_the_retention_are_removed_by_the_ttl(store: Store, site_id: str) -> None:
    for days in (RETENTION_DAYS + 30, RETENTION_DAYS - 30):
        store.client.command(
            "INSERT INTO events (event_id, ts, received_at, site_id, visitor_id, session_id, event_type) "
            "SELECT generateUUIDv4(), now64(3) - toIntervalDay({d:UInt32}), now64(3), {s:String}, 'v', 's', "
            "'pageview'", parameters={"d": days, "s": site_id})
    old = store.client.query("SELECT toYYYYMM(now64(3) - toIntervalDay({d:UInt32}))",
                             parameters={"d": RETENTION_DAYS + 30}).result_rows[0][0]
    # ClickHouse applies the TTL when it writes a part (already expired rows never land) and at
    # merges; force the merge of the old row's partition rather than wait for one.
    store.client.command(f"OPTIMIZE TABLE events PARTITION {int(old)} FINAL")
    assert count_events(store, site_id) == 1
    kept = store.client.query("SELECT dateDiff('day', ts, now64(3)) FROM events WHERE site_id = {s:String}",
                              parameters={"s": site_id}).result_rows
    assert [tuple(row) for row in kept] == [(RETENTION_DAYS - 30,)]
