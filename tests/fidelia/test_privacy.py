"""Erasure and export of one person, everywhere Fidelia keeps data about them."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import profiles.job
from fidelia.auth import new_key
from fidelia.privacy import erase_person, export_person, find_person
from fidelia.settings import Settings
from fidelia.store import Store
from profiles.changes import state_path
from profiles.job import rebuild_profiles
from profiles.snapshot import reading
from tests.conftest import LiveServer, count_events, make_settings
from tests.profiles.events import AS_OF, Events, at

ADMIN_KEY, ADMIN_ENTRY = new_key(["admin"])
PROFILES_KEY, PROFILES_ENTRY = new_key(["profiles"])


def two_devices_and_a_stranger(store: Store, site_id: str, settings: Settings) -> None:
    ev = Events(site_id)
    ev.add("phone", at(3), rubrique="shoes").add("phone", at(3, minutes=1), "identify", customer_id="K")
    ev.add("laptop", at(2), rubrique="bags").add("laptop", at(2, minutes=1), "identify", customer_id="K")
    ev.purchase("laptop", at(2, minutes=2), "o1", 40.0)
    ev.add("stranger", at(1), rubrique="hats")
    ev.insert(store)
    rebuild_profiles(store, settings, full=True, as_of=AS_OF, sites=[site_id])


def in_snapshot(path: Path, site_id: str) -> set[str]:
    with reading(path) as con:
        rows = con.execute("SELECT visitor_id FROM visitor_profiles WHERE site_id = ?", [site_id]).fetchall()
    return {r[0] for r in rows}


def test_forgetting_a_customer_removes_all_their_visitors(store: Store, site_id: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, [site_id])
    two_devices_and_a_stranger(store, site_id, settings)
    person = find_person(store, site_id, "K")
    assert (person.visitors, person.customer) == (["laptop", "phone"], "K")
    exported = export_person(store, person)
    assert len(exported["events"]) == 5 and {p["visitor_id"] for p in exported["visitor_profiles"]} == {
        "laptop", "phone"}
    assert exported["customer_profile"][0]["customer_id"] == "K"
    assert json.dumps(exported, default=str)  # plain JSON
    rebuild_profiles(store, settings, full=True, sites=[site_id])  # a plain run keeps row fingerprints
    assert state_path(settings.data_dir, site_id).exists()
    assert erase_person(store, person, settings.snapshot_path, settings.data_dir) == 5
    assert count_events(store, site_id) == 1
    left = store.client.query("SELECT visitor_id FROM visitor_profiles FINAL WHERE site_id = {s:String}",
                              parameters={"s": site_id}).result_rows
    assert left == [("stranger",)]
    assert store.query("privacy/customer_of", site_id=site_id, id="K") == [(False,)]
    assert in_snapshot(settings.snapshot_path, site_id) == {"stranger"}
    # The job's row fingerprints named them too: gone, so the next rebuild is a full one.
    assert not state_path(settings.data_dir, site_id).exists()
    [result] = rebuild_profiles(store, settings, sites=[site_id])
    assert result.mode == "full"


def visit_days_of(store: Store, site_id: str) -> set[str]:
    rows = store.client.query("SELECT visitor_id FROM visit_days WHERE site_id = {s:String}",
                              parameters={"s": site_id}).result_rows
    return {row[0] for row in rows}


def test_forgetting_a_customer_removes_their_visit_summaries_6(store: Store, site_id: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, [site_id])
    two_devices_and_a_stranger(store, site_id, settings)
    # Bought as K on a device never linked to K: its events go by the customer id, and so does
    # the summary of that visit.
    Events(site_id).purchase("kiosk", at(1), "o2", 10.0, customer_id="K").insert(store)
    assert visit_days_of(store, site_id) == {"phone", "laptop", "stranger", "kiosk"}
    erase_person(store, find_person(store, site_id, "K"), settings.snapshot_path, settings.data_dir)
    assert visit_days_of(store, site_id) == {"stranger"}
    erase_person(store, find_person(store, site_id, "stranger"), settings.snapshot_path, settings.data_dir)
    assert visit_days_of(store, site_id) == set()


def test_forgetting_a_visitor_leaves_the_others(store: Store, site_id: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, [site_id])
    two_devices_and_a_stranger(store, site_id, settings)
    erase_person(store, find_person(store, site_id, "stranger"), settings.snapshot_path, settings.data_dir)
    assert count_events(store, site_id) == 5
    assert in_snapshot(settings.snapshot_path, site_id) == {"laptop", "phone"}


def test_an_erasure_during_a_rebuild_is_not_undone_by_it(store: Store, site_id: str, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The rebuild has read the stranger's events and is about to write; the erasure waits for
    it, so the rows it writes do not bring the stranger back."""
    settings = make_settings(tmp_path, [site_id])
    two_devices_and_a_stranger(store, site_id, settings)
    Events(site_id).add("stranger", at(0), rubrique="hats").insert(store)
    about_to_write, go_on = threading.Event(), threading.Event()
    real_write = profiles.job.write_changes

    def paused_write(*args: object, **kwargs: object) -> None:
        about_to_write.set()
        go_on.wait(30)
        real_write(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(profiles.job, "write_changes", paused_write)
    rebuild = threading.Thread(target=rebuild_profiles, args=(store, settings), kwargs={"sites": [site_id]})
    rebuild.start()
    assert about_to_write.wait(30)
    erasure = threading.Thread(target=erase_person, args=(store, find_person(store, site_id, "stranger"),
                                                          settings.snapshot_path, settings.data_dir))
    erasure.start()
    erasure.join(0.5)  # without the lock it would finish here, before the rebuild writes
    go_on.set()
    rebuild.join(60)
    erasure.join(60)
    assert not rebuild.is_alive() and not erasure.is_alive()
    left = store.client.query("SELECT visitor_id FROM visitor_profiles FINAL WHERE site_id = {s:String}",
                              parameters={"s": site_id}).result_rows
    assert sorted(left) == [("laptop",), ("phone",)]
    assert in_snapshot(settings.snapshot_path, site_id) == {"laptop", "phone"}


def test_erasure_and_export_over_http_need_the_admin_key(store: Store, site_id: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, [site_id], api_keys=f"{ADMIN_ENTRY},{PROFILES_ENTRY}")
    two_devices_and_a_stranger(store, site_id, settings)
    server = LiveServer(settings, store).start()
    try:
        with server.client() as client:
            path, params = "/v1/visitors/phone", {"site_id": site_id}
            assert client.delete(path, params=params).status_code == 401
            assert client.delete(path, params=params, headers={"X-API-Key": PROFILES_KEY}).status_code == 403
            export = client.get(path + "/export", params=params, headers={"X-API-Key": ADMIN_KEY})
            assert export.status_code == 200 and export.json()["visitor_ids"] == ["phone"]
            erased = client.delete(path, params=params, headers={"X-API-Key": ADMIN_KEY})
            assert erased.status_code == 200 and erased.json() == {"erased": True, "visitor_ids": 1, "events": 2}
    finally:
        server.stop()
    assert count_events(store, site_id) == 4


def test_cli_forget_and_export(tmp_path: Path) -> None:
    env = {"FIDELIA_DATA_DIR": str(tmp_path), "FIDELIA_CLICKHOUSE_DSN": f"chdb://{tmp_path}/clickhouse"}
    run = lambda *args: subprocess.run([sys.executable, "-m", "fidelia.cli", *args], capture_output=True,  # noqa: E731
                                       text=True, timeout=120, env={**__import__("os").environ, **env})
    exported = run("export", "nobody")
    assert exported.returncode == 0 and json.loads(exported.stdout)["events"] == []
    forgot = run("forget", "nobody")
    assert forgot.returncode == 0 and "0 events" in forgot.stdout
    bad = run("forget", "x" * 200)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr and "1 to 128" in bad.stderr
