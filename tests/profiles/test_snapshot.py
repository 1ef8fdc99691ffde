"""The serving snapshot's two files: incremental runs patch a small delta, other runs fold it into a
new base, and every reader sees the delta's rows over the base's (profiles/snapshot.py)."""

from __future__ import annotations

import secrets
import shutil
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

import profiles.snapshot
from fidelia.privacy import erase_person, find_person
from fidelia.settings import Settings
from fidelia.store import Store
from profiles.job import rebuild_profiles
from profiles.snapshot import current_generation, delta_path, reading
from recommender.serving import SnapshotReader
from tests.conftest import make_settings
from tests.profiles.events import AS_OF, Events
from tests.profiles.test_profiles_properties import PROPERTY, assert_holds_a_full_run, histories, insert


def rebuild(store: Store, settings: Settings, site_id: str, minutes: int, full: bool = False) -> str:
    """A run `minutes` after the fixtures' date: the recommender is not due for retraining, so an
    incremental run writes only profile rows."""
    [result] = rebuild_profiles(store, settings, full=full, sites=[site_id], now=AS_OF + timedelta(minutes=minutes))
    return result.mode


def pageviews(path: Path, site_id: str) -> dict[str, int]:
    with reading(path) as con:
        rows = con.execute("SELECT visitor_id, pageviews FROM visitor_profiles WHERE site_id = ?", [site_id]).fetchall()
    return dict(rows)


def customers(path: Path, site_id: str) -> set[str]:
    with reading(path) as con:
        rows = con.execute("SELECT customer_id FROM customer_profiles WHERE site_id = ?", [site_id]).fetchall()
    return {r[0] for r in rows}


def deltas(path: Path) -> list[Path]:
    return sorted(path.parent.glob("*.delta.duckdb"))


@pytest.fixture
def settings(tmp_path: Path, site_id: str) -> Settings:
    return make_settings(tmp_path, [site_id])


def shop(store: Store, site_id: str) -> None:
    Events(site_id).add("v1", AS_OF, rubrique="shoes").add("v2", AS_OF, rubrique="bags").insert(store)


def test_an_incremental_run_patches_the_delta_and_leaves_the_base(store: Store, settings: Settings,
                                                                  site_id: str) -> None:
    path = settings.snapshot_path
    shop(store, site_id)
    assert rebuild(store, settings, site_id, 0, full=True) == "full"
    base_inode, generation = path.stat().st_ino, current_generation(path)
    assert generation and deltas(path) == []
    reader = SnapshotReader(path)
    assert reader.visitor(site_id, "v1")["pageviews"] == 1

    Events(site_id).add("v1", AS_OF - timedelta(hours=1), rubrique="shoes").insert(store)
    assert rebuild(store, settings, site_id, 1) == "incremental"
    assert path.stat().st_ino == base_inode  # the 300 MB base was not copied for one changed visitor
    assert deltas(path) == [delta_path(path, generation)]
    assert pageviews(path, site_id) == {"v1": 2, "v2": 1}
    reader.refresh()
    assert reader.visitor(site_id, "v1")["pageviews"] == 2  # the API picks the delta up
    assert reader.visitor(site_id, "v2")["pageviews"] == 1  # and still finds the base's rows
    assert reader.visitor(site_id, "nobody") is None

    Events(site_id).add("v2", AS_OF - timedelta(hours=2), rubrique="bags").insert(store)
    assert rebuild(store, settings, site_id, 2) == "incremental"  # the same delta, patched again
    assert path.stat().st_ino == base_inode and deltas(path) == [delta_path(path, generation)]
    assert pageviews(path, site_id) == {"v1": 2, "v2": 2}

    assert rebuild(store, settings, site_id, 2, full=True) == "full"
    assert path.stat().st_ino != base_inode and current_generation(path) != generation
    assert deltas(path) == []  # folded into the new base
    assert pageviews(path, site_id) == {"v1": 2, "v2": 2}
    assert not list(path.parent.glob(".*.tmp"))


def test_a_delta_is_never_read_over_a_newer_base(store: Store, settings: Settings, site_id: str) -> None:
    path = settings.snapshot_path
    shop(store, site_id)
    rebuild(store, settings, site_id, 0, full=True)
    Events(site_id).add("v1", AS_OF - timedelta(hours=1), rubrique="shoes").insert(store)
    rebuild(store, settings, site_id, 1)
    [old_delta] = deltas(path)
    kept = old_delta.with_name("kept")
    shutil.copyfile(old_delta, kept)
    Events(site_id).add("v1", AS_OF - timedelta(hours=2), rubrique="shoes").insert(store)
    rebuild(store, settings, site_id, 2, full=True)
    kept.rename(old_delta)  # as if the run had died before removing it
    assert pageviews(path, site_id) == {"v1": 3, "v2": 1}  # the new base's numbers, not the old delta's


def test_a_customer_the_delta_removes_is_gone_from_the_snapshot(store: Store, settings: Settings,
                                                                site_id: str) -> None:
    path = settings.snapshot_path
    hours = [AS_OF - timedelta(hours=h) for h in range(3)]
    Events(site_id).add("phone", hours[2], rubrique="shoes").add("phone", hours[2], "identify", customer_id="K"
                                                                ).insert(store)
    rebuild(store, settings, site_id, 0, full=True)
    assert customers(path, site_id) == {"K"}
    # The only device of K now belongs to L: K has no device and no order left.
    Events(site_id).add("phone", hours[1], "identify", customer_id="L").insert(store)
    assert rebuild(store, settings, site_id, 1) == "incremental"
    assert deltas(path)
    assert customers(path, site_id) == {"L"}
    assert {r[0] for r in store.query("profiles/stored_customers", site_id=site_id)} == {"L"}


def test_erasure_folds_the_delta_and_leaves_no_copy_of_the_person(store: Store, settings: Settings,
                                                                   site_id: str) -> None:
    path = settings.snapshot_path
    shop(store, site_id)
    rebuild(store, settings, site_id, 0, full=True)
    Events(site_id).add("v1", AS_OF - timedelta(hours=1), rubrique="shoes").insert(store)
    rebuild(store, settings, site_id, 1)
    assert deltas(path)  # v1's new row is in the delta
    erase_person(store, find_person(store, site_id, "v1"), path, settings.data_dir)
    assert deltas(path) == []
    assert pageviews(path, site_id) == {"v2": 1}


def test_a_delta_grown_too_large_is_folded_into_a_new_base(store: Store, settings: Settings, site_id: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    path = settings.snapshot_path
    shop(store, site_id)
    rebuild(store, settings, site_id, 0, full=True)
    monkeypatch.setattr(profiles.snapshot, "DELTA_SHARE", 0.0)  # any delta is too large
    monkeypatch.setattr(profiles.snapshot, "MIN_FOLD_BYTES", 0)
    Events(site_id).add("v1", AS_OF - timedelta(hours=1), rubrique="shoes").insert(store)
    rebuild(store, settings, site_id, 1)
    assert deltas(path)  # the first delta still goes to a delta file
    base_inode = path.stat().st_ino
    Events(site_id).add("v2", AS_OF - timedelta(hours=2), rubrique="bags").insert(store)
    assert rebuild(store, settings, site_id, 2) == "incremental"
    assert path.stat().st_ino != base_inode and deltas(path) == []
    assert pageviews(path, site_id) == {"v1": 2, "v2": 2}


SUCCESSIVE = hsettings(PROPERTY, max_examples=6)


@SUCCESSIVE
@given(batches=st.lists(histories, min_size=2, max_size=4))
def test_successive_incremental_runs_equal_a_full_rebuild(store: Store, tmp_path: Path,
                                                          batches: list[list[dict]]) -> None:
    """Each incremental run patches the same delta (devices move, customers come and go); after
    each, ClickHouse and the snapshot hold what a full rebuild writes."""
    site_id = "p" + secrets.token_hex(6)
    # Retrained only by the full run: every incremental run then goes to the delta.
    config = Settings.from_env({"FIDELIA_DATA_DIR": str(tmp_path), "FIDELIA_RECO_RETRAIN_MINUTES": "1000000"})
    insert(store, site_id, batches[0])
    rebuild_profiles(store, config, full=True, sites=[site_id], now=AS_OF)
    for step, batch in enumerate(batches[1:], start=1):
        insert(store, site_id, batch, shift_days=step)
        now = AS_OF + timedelta(days=step)
        [result] = rebuild_profiles(store, config, sites=[site_id], now=now)
        assert result.mode == "incremental" and deltas(config.snapshot_path)
        assert_holds_a_full_run(store, config, site_id, now)


def test_the_bucket_memory_limit_is_room_beside_the_indexes(tmp_path: Path) -> None:
    """A bucketed run's DuckDB limit is its room plus what its ART indexes hold, after each bucket."""
    path = tmp_path / "snapshot" / "profiles.duckdb"
    ids = [f"v{n:07d}" for n in range(200_000)]
    visitors = pl.DataFrame({"site_id": "s1", "visitor_id": ids})
    customers = pl.DataFrame({"site_id": "s1", "customer_id": ids})
    with profiles.snapshot.SnapshotWriter(path, "s1", bucket_memory_mib=80) as writer:
        writer.add(visitors, customers, full=True)
        limit = writer.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
        index_bytes = writer.con.execute(profiles.snapshot.load_sql("snapshot/index_memory")).fetchall()[0][0]
    assert index_bytes > 0
    assert limit == f"{80 + -(-index_bytes // (1 << 20)):.1f} MiB"  # the indexes' size rounded up to a MiB
