"""A report as JSON, CSV or a terminal table (the main rows; JSON also carries the sections)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from profiles.reports import Report

FORMATS = ("table", "csv", "json")


def render(report: Report, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report.to_json(), ensure_ascii=False, indent=2, default=str)
    if fmt == "csv":
        return to_csv(report.rows)
    lines = [f"{report.name} · {report.params.site_id} · {report.to_json()['from']} → {report.to_json()['to']}", "",
             to_table(report.rows)]
    for name, rows in report.sections.items():
        lines += ["", name.replace("_", " "), to_table(rows)]
    return "\n".join(lines)


def to_csv(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def to_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(no data for this period)"
    columns = list(rows[0])
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    header = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    body = ["  ".join(v.rjust(w) if _numeric(v) else v.ljust(w) for v, w in zip(r, widths, strict=True))
            for r in cells]
    return "\n".join([header, "  ".join("-" * w for w in widths), *body])


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.4f}".rstrip("0").rstrip(".") if abs(value) < 1 else f"{value:,.2f}"
    return str(value)


def _numeric(text: str) -> bool:
    return text.replace(",", "").replace(".", "").replace("-", "").isdigit()
