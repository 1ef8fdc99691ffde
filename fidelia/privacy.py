"""Erasure and export of one person's data: a visitor id, or a customer id with all its visitors.

Both touch every place Fidelia keeps data about someone — events, identity links, imported
orders, profiles in ClickHouse, and the serving snapshot — and log what they did by counts
only, never the identifiers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fidelia.errors import FideliaError
from fidelia.store import Store
from profiles.changes import forget_state, state_path
from profiles.snapshot import SnapshotWriter
from profiles.writing import profile_writes

log = logging.getLogger(__name__)
MAX_ID = 128


class InvalidPersonId(FideliaError):
    status = 400
    code = "invalid_id"


@dataclass(frozen=True)
class Person:
    site_id: str
    visitors: list[str]
    customer: str  # '' for an anonymous visitor


def find_person(store: Store, site_id: str, person_id: str) -> Person:
    if not person_id or len(person_id) > MAX_ID:
        raise InvalidPersonId(f"the id must be 1 to {MAX_ID} characters", field="id")
    is_customer = bool(store.query("privacy/customer_of", site_id=site_id, id=person_id)[0][0])
    visitors = sorted(row[0] for row in store.query("privacy/linked_visitors", site_id=site_id, id=person_id))
    if not is_customer:
        visitors = [person_id]
    return Person(site_id, visitors, person_id if is_customer else "")


def export_person(store: Store, person: Person) -> dict[str, Any]:
    """Everything held about the person, as JSON-ready data."""
    params = {"site_id": person.site_id, "visitors": person.visitors, "customer": person.customer}

    def rows(name: str) -> list[dict[str, Any]]:
        return [{k: _plain(v) for k, v in row.items()} for row in store.query_dicts(name, **params)]

    events = rows("privacy/export_events")
    log.info("export: %d visitor id(s), %d events", len(person.visitors), len(events))
    return {"site_id": person.site_id, "visitor_ids": person.visitors, "customer_id": person.customer or None,
            "events": events, "visitor_profiles": rows("privacy/export_profiles"),
            "customer_profile": rows("privacy/export_customer"), "imported_orders": rows("privacy/export_orders")}


def erase_person(store: Store, person: Person, snapshot: Path, data_dir: Path) -> int:
    """Delete the person everywhere; returns how many events were removed. The profiles job's
    row fingerprints go too (they name the person), which makes the site's next rebuild full.
    A rebuild that is running is waited for: its writes would bring the person back."""
    params: dict[str, Any] = {"site_id": person.site_id, "visitors": person.visitors, "customer": person.customer}
    with profile_writes(data_dir):
        events = len(store.query("privacy/export_events", **params))
        params["visits"] = store.query("privacy/customer_visits", **params)
        store.run_script("privacy/erase", **params)  # on a cluster: the local tables ON CLUSTER
        forget_state(state_path(data_dir, person.site_id))
        if snapshot.exists():
            erase_from_snapshot(snapshot, person)
    log.info("erasure: %d visitor id(s), %d events removed", len(person.visitors), events)
    return events


def erase_from_snapshot(path: Path, person: Person) -> None:
    """A new base without the person, the delta folded in: the same copy-edit-rename as the
    profiles job, so readers never see a half-written file, and no delta still names them."""
    with SnapshotWriter(path, person.site_id) as writer:
        writer.run("snapshot/erase", visitors=person.visitors, customer=person.customer)
        writer.publish(None)


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if value.__class__.__name__ == "UUID":
        return str(value)
    return value
