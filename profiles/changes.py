"""Which profile rows an incremental run must write: those whose content differs from the last run.

An incremental run recomputes every customer and every visitor with loyalty numbers (recency,
RFM ranks and attrition move with the date and the population), but most of them come out the
same as last time. Each run keeps a fingerprint of every row it produced — a 64-bit hash of the
row's values, without its run times — in `FIDELIA_DATA_DIR/profiles/<site>.rows.parquet`; the
next run writes only the rows whose fingerprint changed (or is new), and tombstones the
customers it no longer produces. What ClickHouse and the snapshot hold is then the same as
after a full run, for a fraction of the writes.

The fingerprints are only trusted when the last run finished: they are removed before a run
writes anything and saved after it wrote everything, so a run that died half-way, an erasure
or a missing file makes the next run full. Hashes may differ between polars versions: after an
upgrade one run rewrites every row, which is correct, only slower.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

RUN_COLUMNS = ("as_of", "updated_at")
HASH_SEED = 0


@dataclass(frozen=True)
class RowChanges:
    """The rows a run writes, and the customers it no longer produces."""

    visitors: pl.DataFrame
    customers: pl.DataFrame
    gone_customers: list[str]


def state_path(data_dir: Path, site_id: str) -> Path:
    return data_dir / "profiles" / f"{site_id}.rows.parquet"


def fingerprints(frame: pl.DataFrame, key: str, kind: str) -> pl.DataFrame:
    values = [c for c in frame.columns if c not in RUN_COLUMNS]
    return frame.select(pl.lit(kind).alias("kind"), pl.col(key).alias("key"),
                        pl.struct(values).hash(seed=HASH_SEED).alias("hash"))


def save_state(path: Path, visitors: pl.DataFrame, customers: pl.DataFrame) -> None:
    """Remember what this run produced; written to a temporary name, then renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    pl.concat([fingerprints(visitors, "visitor_id", "v"), fingerprints(customers, "customer_id", "c")]
              ).write_parquet(temporary, compression="lz4")
    temporary.replace(path)


def load_state(path: Path) -> pl.DataFrame | None:
    """The last finished run's fingerprints, or None when there is none to trust."""
    try:
        return pl.read_parquet(path)
    except (FileNotFoundError, pl.exceptions.ComputeError, OSError):
        return None


def forget_state(path: Path) -> None:
    """Make the next run full: before a run writes, and after an erasure."""
    path.unlink(missing_ok=True)


def changed_rows(visitors: pl.DataFrame, customers: pl.DataFrame, previous: pl.DataFrame) -> RowChanges:
    """The rows of this run that differ from the previous run's, and the customers gone since."""
    return RowChanges(
        visitors=_changed(visitors, "visitor_id", previous.filter(pl.col("kind") == "v")),
        customers=_changed(customers, "customer_id", previous.filter(pl.col("kind") == "c")),
        gone_customers=sorted(
            set(previous.filter(pl.col("kind") == "c")["key"].to_list()) - set(customers["customer_id"].to_list())
        ),
    )


def _changed(frame: pl.DataFrame, key: str, previous: pl.DataFrame) -> pl.DataFrame:
    same = fingerprints(frame, key, "").join(previous, on=["key", "hash"], how="semi").select(pl.col("key").alias(key))
    return frame.join(same, on=key, how="anti")
