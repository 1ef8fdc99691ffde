"""Settings: every knob of Fidelia, read once from `FIDELIA_*` environment variables.

Each setting is declared once below (name, default, parser, help text); `docs/settings.md`
documents every one of them and a test keeps the two in step. Nothing else in the code
reads `os.environ`: the entry point builds `Settings.from_env()` and passes it down.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fidelia.cluster import CLUSTER_NAME
from fidelia.errors import InvalidSetting

COOKIE_SECURE_CHOICES = ("auto", "always", "never")
LOG_LEVELS = ("debug", "info", "warning", "error")


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError("must be a whole number above 0")
    return value


def _count_or_auto(raw: str) -> int:
    """A whole number above 0, or `auto` (0)."""
    if raw.strip().lower() == "auto":
        return 0
    value = int(raw)
    if value <= 0:
        raise ValueError("must be a whole number above 0 or auto")
    return value


def _non_negative_float(raw: str) -> float:
    value = float(raw)
    if not value >= 0:
        raise ValueError("must be a number, 0 or more")
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("must be a whole number, 0 or more")
    return value


def _cpu_or_auto(raw: str) -> str:
    """`auto`, `off`, or the number of a CPU."""
    value = raw.strip().lower()
    if value in ("auto", "off") or value.isdigit():
        return value
    raise ValueError("must be auto, off or a CPU number (0, 1, ...)")


def _share(raw: str) -> float:
    value = float(raw)
    if not 0 <= value <= 1:
        raise ValueError("must be a share between 0 and 1")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError("must be a number above 0")
    return value


def _bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("must be true or false")


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        lowered = raw.strip().lower()
        if lowered not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return lowered

    return parse


def _secret(raw: str) -> str:
    if raw and len(raw) < 32:
        raise ValueError("must be empty (a random secret per process) or at least 32 characters")
    return raw


def _cluster(raw: str) -> str:
    if raw and not CLUSTER_NAME.match(raw):
        raise ValueError("must be empty (one server) or a cluster name from the server's <remote_servers>: "
                         "letters, digits and _")
    return raw


def _dsn(raw: str) -> str:
    if not raw.startswith(("chdb://", "http://", "https://")):
        raise ValueError("must start with chdb:// (embedded) or http(s):// (a ClickHouse server)")
    return raw


@dataclass(frozen=True)
class SettingSpec:
    """One public setting: the field it fills, its default, how to parse it, what it is for."""

    field: str
    default: str
    parse: Callable[[str], Any]
    help: str

    @property
    def env(self) -> str:
        return "FIDELIA_" + self.field.upper()


SPECS: tuple[SettingSpec, ...] = (
    SettingSpec("clickhouse_dsn", "chdb://./var/clickhouse", _dsn,
                "Where events and profiles live. `chdb://PATH` is embedded ClickHouse in this process "
                "(relative paths are taken from the working directory); "
                "`http://user:password@host:8123/database` is a ClickHouse server."),
    SettingSpec("clickhouse_cluster", "", _cluster,
                "Name of the ClickHouse cluster (server DSN only). Set, `fidelia migrate` creates Replicated "
                "local tables and Distributed fronts sharded by the visitor `ON CLUSTER` this name "
                "(docs/scaling.md). Empty: one server or the embedded store."),
    SettingSpec("clickhouse_async_insert", "false", _bool,
                "Server DSN only: the collector's inserts use the server's asynchronous inserts "
                "(`async_insert=1, wait_for_async_insert=1`), so many collectors' small batches become few "
                "parts. Each insert still waits for the server's flush before its spool segment is dropped."),
    SettingSpec("data_dir", "./var", Path,
                "Everything the service writes besides ClickHouse: the event spool, the serving snapshot."),
    SettingSpec("sites_file", "", str,
                "TOML file listing the sites (ids, allowed origins, rubrique URL rules, consent mode). "
                "Empty: the built-in `demo` site only."),
    SettingSpec("flush_rows", "20000", _positive_int,
                "The collector inserts its buffer into ClickHouse once it holds this many events "
                "(or at the flush interval, whichever comes first). An insert costs ~15 ms whatever "
                "its size, so fewer, larger ones leave more CPU to the requests."),
    SettingSpec("flush_interval", "1.0", _positive_float,
                "Longest time, in seconds, an accepted event waits in the buffer before its insert."),
    SettingSpec("retry_max_seconds", "30", _positive_float,
                "Longest pause between two attempts to replay the spool while ClickHouse is unreachable."),
    SettingSpec("max_body_bytes", "16384", _positive_int,
                "Largest `/collect` body accepted; a larger one gets 413."),
    SettingSpec("max_batch_events", "50", _positive_int,
                "Most events in one `/collect` batch; more gets 422."),
    SettingSpec("max_event_age_days", "31", _positive_int,
                "An event's own `ts` may be at most this many days old (offline queues, server-side "
                "trackers); older is refused with 422. A `ts` in the future is clamped to the server clock."),
    SettingSpec("rate_limit_per_minute", "600", _non_negative_int,
                "Requests per minute one client (one address) may send to `/collect` and `/p.gif`, on average; "
                "more gets 429 with `Retry-After`. 0 turns the limit off. The address is held in memory only."),
    SettingSpec("rate_limit_burst", "120", _positive_int,
                "Requests a client may send at once above its per-minute rate before it is limited."),
    SettingSpec("rate_limit_exempt", "127.0.0.1,::1", str,
                "Client addresses the rate limit never applies to, comma-separated (default: this machine, "
                "e.g. `fidelia simulate --url`, a local benchmark or a reverse proxy that does not forward the "
                "address). Empty: every client is limited."),
    SettingSpec("spool_max_bytes", "1073741824", _positive_int,
                "Largest size of the on-disk event spool, in bytes (default 1 GiB). When ClickHouse is away long "
                "enough to fill it, or the disk is full, `/collect` sheds load with 503 and `Retry-After` "
                "instead of crashing; it accepts again as soon as the spool drains."),
    SettingSpec("session_timeout_minutes", "30", _positive_int,
                "A visit ends after this many minutes without an event; the next event starts a new session."),
    SettingSpec("retention_days", "760", _positive_int,
                "Events older than this are removed by a ClickHouse TTL (default: 25 months)."),
    SettingSpec("attrition_days", "180", _positive_int,
                "A customer who has not bought for this many days is counted as lost (attrition)."),
    SettingSpec("interest_half_life_days", "30", _positive_float,
                "An interest signal (page view, product view, cart, purchase) counts half as much after this "
                "many days."),
    SettingSpec("profiles_buckets", "1", _count_or_auto,
                "The profiles job processes a site's visitors in this many buckets, ranges of the visitor id "
                "(the events' sort key; a customer's profile is built in the bucket of its last device), one "
                "aggregation each, so its memory follows the bucket, not the population. `auto`: one bucket per "
                "FIDELIA_PROFILES_BUCKET_VISITORS visitors. 1: one pass. The profiles are the same."),
    SettingSpec("profiles_bucket_visitors", "100000", _positive_int,
                "With FIDELIA_PROFILES_BUCKETS=auto, the visitors per bucket: a site with fewer runs in one pass."),
    SettingSpec("profiles_snapshot_memory_mib", "80", _non_negative_int,
                "DuckDB's room, in MiB, beside its indexes (which grow with the site's profiles, ~7 MiB per "
                "million), while a bucketed profiles run adds its buckets to the serving snapshot: its memory "
                "limit is this plus the indexes' size, set again after each bucket. DuckDB keeps the blocks it "
                "wrote in memory up to its limit, so without one the run's memory grows with the population. "
                "0: no limit, DuckDB's default (80% of RAM)."),
    SettingSpec("profiles_every_minutes", "60", _non_negative_float,
                "`fidelia serve` rebuilds profiles (incrementally) this often in the background; 0 turns it off."),
    SettingSpec("cookie_domain", "", str,
                "Domain attribute of the visitor cookies, e.g. `.shop.example` to share them across "
                "sub-domains. Empty: the collector's own host."),
    SettingSpec("cookie_secure", "auto", _choice(*COOKIE_SECURE_CHOICES),
                "`Secure` flag on cookies: `auto` sets it when the request came over HTTPS, "
                "`always` or `never` force it."),
    SettingSpec("trust_proxy", "false", _bool,
                "Trust `X-Forwarded-Proto` from a reverse proxy in front of the collector "
                "(only when one is, or clients could forge it)."),
    SettingSpec("collector_fast_path", "true", _bool,
                "`fidelia serve` answers plain `/collect` and `/p.gif` requests inside uvicorn's HTTP protocol, "
                "without the ASGI cycle (same checks, cookies and errors; about twice the throughput, see "
                "docs/PERFORMANCE.md). false: every request goes through ASGI and Starlette."),
    SettingSpec("loop_cpu", "auto", _cpu_or_auto,
                "Embedded store only: `fidelia serve` keeps its event loop on this CPU and every other thread "
                "(ClickHouse's inserts and merges) on the others, so they do not take the loop's CPU "
                "(docs/PERFORMANCE.md). `auto`: the last CPU the process may use; `off`: no placement. "
                "Nothing is done on a one-CPU machine."),
    SettingSpec("stop_with_parent", "true", _bool,
                "`fidelia serve` shuts down (flushing, as on SIGTERM) when the process that started it dies, "
                "rather than hold the embedded store as an orphan. Set false to run it detached "
                "(`nohup fidelia serve &`)."),
    SettingSpec("api_keys", "", str,
                "API keys for the server routes, as `scope+scope=<sha256>` entries separated by commas; "
                "`fidelia keys new --scopes profiles,reports` makes one. Scopes: profiles, reports, admin."),
    SettingSpec("secret_key", "", _secret,
                "Signs the dashboard's session cookies (HMAC). Empty: a random secret drawn at each start, so "
                "sessions end when the server restarts; set one (32+ characters) to keep them across restarts "
                "or share them between workers."),
    SettingSpec("reco_holdout", "0.10", _share,
                "Share of visitors (stable per visitor) who get the popularity baseline instead of the "
                "personalised offer, to measure what personalisation brings."),
    SettingSpec("reco_max_share", "0.6", _share,
                "At most this share of an offer's items from one rubrique (diversity)."),
    SettingSpec("reco_exclude_bought_days", "90", _non_negative_int,
                "Never recommend a product the customer bought within this many days."),
    SettingSpec("reco_retrain_minutes", "360", _non_negative_float,
                "An incremental profiles run retrains the recommender only when its model is older than "
                "this; full runs always retrain. 0: retrain at every run."),
    SettingSpec("value_horizon_months", "12", _positive_int,
                "Customer value: `predicted_clv` is what a customer is expected to spend over this many months."),
    SettingSpec("value_monthly_discount", "0.01", _share,
                "Customer value: monthly discount rate of `predicted_clv` (0.01 = a euro next month is worth "
                "0.99 today)."),
    SettingSpec("value_min_repeat_customers", "30", _positive_int,
                "Customer value: the models are fitted only for a site with at least this many customers who "
                "bought on two days or more; below, `p_alive` and `predicted_clv` stay empty."),
    SettingSpec("value_refit_hours", "24", _non_negative_float,
                "Customer value: full runs refit the models; incremental runs score with the last fit while it "
                "is younger than this, so a customer's numbers move with their own history, not each refit."),
    SettingSpec("log_level", "info", _choice(*LOG_LEVELS), "Log verbosity."),
)


@dataclass(frozen=True)
class Settings:
    """The typed settings, built once in the entry point and passed down."""

    clickhouse_dsn: str
    clickhouse_cluster: str
    clickhouse_async_insert: bool
    data_dir: Path
    sites_file: str
    flush_rows: int
    flush_interval: float
    retry_max_seconds: float
    max_body_bytes: int
    max_batch_events: int
    max_event_age_days: int
    rate_limit_per_minute: int
    rate_limit_burst: int
    rate_limit_exempt: str
    spool_max_bytes: int
    session_timeout_minutes: int
    retention_days: int
    attrition_days: int
    interest_half_life_days: float
    profiles_buckets: int  # 0: auto
    profiles_bucket_visitors: int
    profiles_snapshot_memory_mib: int  # 0: DuckDB's default
    profiles_every_minutes: float
    cookie_domain: str
    cookie_secure: str
    trust_proxy: bool
    collector_fast_path: bool
    loop_cpu: str  # auto, off or a CPU number
    stop_with_parent: bool
    api_keys: str
    secret_key: str
    reco_holdout: float
    reco_max_share: float
    reco_exclude_bought_days: int
    reco_retrain_minutes: float
    value_horizon_months: int
    value_monthly_discount: float
    value_min_repeat_customers: int
    value_refit_hours: float
    log_level: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read every `FIDELIA_*` setting; a bad value stops here, naming the variable and the value."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for spec in SPECS:
            raw = env.get(spec.env, spec.default)
            try:
                values[spec.field] = spec.parse(raw)
            except ValueError as exc:
                raise InvalidSetting(f"{spec.env}={raw!r} is not valid: {exc}") from None
        values.update(overrides)
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"

    @property
    def snapshot_path(self) -> Path:
        return self.data_dir / "snapshot" / "profiles.duckdb"
