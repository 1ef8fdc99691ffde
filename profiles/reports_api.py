"""`GET /v1/reports/{name}`: the reports over HTTP (API key with the `reports` scope), JSON or CSV."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fidelia.auth import ApiKeys
from fidelia.settings import Settings
from fidelia.sites import SiteRegistry
from fidelia.store import Store
from profiles.report_format import to_csv
from profiles.reports import DEFAULT_BUCKET, REPORTS, InvalidReportParameter, UnknownReport, parse_params, run_report


class ReportsAPI:
    def __init__(self, settings: Settings, sites: SiteRegistry, store: Store, keys: ApiKeys,
                 clock: Callable[[], float]) -> None:
        self.settings = settings
        self.sites = sites
        self.store = store
        self.keys = keys
        self.clock = clock

    def routes(self) -> list[Route]:
        return [Route("/v1/reports/{name}", self.report, methods=["GET"])]

    async def report(self, request: Request) -> Response:
        self.keys.require(request, "reports")
        name = request.path_params["name"]
        if name not in REPORTS:
            raise UnknownReport(f"no report named {name[:40]!r}; reports: {', '.join(REPORTS)}", field="name")
        query = request.query_params
        fmt = query.get("format", "json")
        if fmt not in ("json", "csv"):
            raise InvalidReportParameter("format must be json or csv", field="format")
        site = self.sites.get(query.get("site_id") or next(iter(self.sites)).site_id)
        today = datetime.fromtimestamp(self.clock(), UTC).date()
        params = parse_params(site.site_id, query.get("from"), query.get("to"), query.get("by"), today,
                              self.settings.attrition_days, DEFAULT_BUCKET.get(name))
        report = await asyncio.to_thread(run_report, self.store, name, params)
        if fmt == "csv":
            return Response(to_csv(report.rows), media_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
        return JSONResponse(report.to_json())
