"""Collector counters, rendered in the Prometheus text format at `/metrics`."""

from __future__ import annotations

from collections import Counter

FLUSH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class CollectorMetrics:
    """Plain in-process counters: one process per store in embedded mode, one per worker on a server."""

    def __init__(self) -> None:
        self.events_accepted = 0
        self.rejected: Counter[str] = Counter()
        self.consent_choices: Counter[str] = Counter()
        self.events_flushed = 0
        self.events_spooled = 0
        self.events_replayed = 0
        self.segments_quarantined = 0
        self.flush_count = 0
        self.flush_seconds_sum = 0.0
        self.flush_buckets = [0] * len(FLUSH_BUCKETS)
        self.buffered = 0
        self.spool_segments = 0
        self.spool_bytes = 0
        self.rate_limited_clients = 0  # how many buckets the limiter holds: a count, never an address
        self.answered_in_protocol = 0  # /collect and /p.gif answers written by collector/protocol.py

    def observe_flush(self, seconds: float, rows: int) -> None:
        self.flush_count += 1
        self.flush_seconds_sum += seconds
        self.events_flushed += rows
        for i, bound in enumerate(FLUSH_BUCKETS):
            if seconds <= bound:
                self.flush_buckets[i] += 1

    def render(self) -> str:
        out = [
            "# HELP fidelia_events_accepted_total Events accepted by /collect and /p.gif.",
            "# TYPE fidelia_events_accepted_total counter",
            f"fidelia_events_accepted_total {self.events_accepted}",
            "# HELP fidelia_requests_rejected_total Requests refused, by reason.",
            "# TYPE fidelia_requests_rejected_total counter",
        ]
        out += [f'fidelia_requests_rejected_total{{reason="{r}"}} {n}' for r, n in sorted(self.rejected.items())]
        out += ["# HELP fidelia_consent_choices_total Visitors' choices posted to /consent.",
                "# TYPE fidelia_consent_choices_total counter"]
        out += [f'fidelia_consent_choices_total{{choice="{c}"}} {n}' for c, n in sorted(self.consent_choices.items())]
        out += [
            "# HELP fidelia_events_flushed_total Events inserted into ClickHouse by the writer.",
            "# TYPE fidelia_events_flushed_total counter",
            f"fidelia_events_flushed_total {self.events_flushed}",
            "# HELP fidelia_events_spooled_total Events whose insert failed and wait in the on-disk spool.",
            "# TYPE fidelia_events_spooled_total counter",
            f"fidelia_events_spooled_total {self.events_spooled}",
            "# HELP fidelia_events_replayed_total Spooled events inserted once the store answered again.",
            "# TYPE fidelia_events_replayed_total counter",
            f"fidelia_events_replayed_total {self.events_replayed}",
            "# HELP fidelia_spool_segments_quarantined_total Unreadable spool files moved aside.",
            "# TYPE fidelia_spool_segments_quarantined_total counter",
            f"fidelia_spool_segments_quarantined_total {self.segments_quarantined}",
            "# HELP fidelia_buffered_events Events accepted and not yet inserted.",
            "# TYPE fidelia_buffered_events gauge",
            f"fidelia_buffered_events {self.buffered}",
            "# HELP fidelia_spool_segments Sealed spool files waiting for the store.",
            "# TYPE fidelia_spool_segments gauge",
            f"fidelia_spool_segments {self.spool_segments}",
            "# HELP fidelia_spool_bytes Size of the on-disk spool; at FIDELIA_SPOOL_MAX_BYTES /collect answers 503.",
            "# TYPE fidelia_spool_bytes gauge",
            f"fidelia_spool_bytes {self.spool_bytes}",
            "# HELP fidelia_rate_limit_clients Clients the rate limiter currently tracks (in memory).",
            "# TYPE fidelia_rate_limit_clients gauge",
            f"fidelia_rate_limit_clients {self.rate_limited_clients}",
            "# HELP fidelia_collector_protocol_answers_total Hot-route answers written by the HTTP protocol, "
            "without the ASGI cycle (FIDELIA_COLLECTOR_FAST_PATH).",
            "# TYPE fidelia_collector_protocol_answers_total counter",
            f"fidelia_collector_protocol_answers_total {self.answered_in_protocol}",
            "# HELP fidelia_flush_seconds Time of one insert into ClickHouse.",
            "# TYPE fidelia_flush_seconds histogram",
        ]
        buckets = zip(FLUSH_BUCKETS, self.flush_buckets, strict=True)
        out += [f'fidelia_flush_seconds_bucket{{le="{b}"}} {n}' for b, n in buckets]
        out += [
            f'fidelia_flush_seconds_bucket{{le="+Inf"}} {self.flush_count}',
            f"fidelia_flush_seconds_sum {self.flush_seconds_sum:.6f}",
            f"fidelia_flush_seconds_count {self.flush_count}",
        ]
        return "\n".join(out) + "\n"
