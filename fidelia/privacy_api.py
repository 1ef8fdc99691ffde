"""`DELETE /v1/visitors/{id}` and `GET /v1/visitors/{id}/export`: erasure and export over HTTP
(API key with the `admin` scope), run by the server that holds the store."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fidelia.auth import ApiKeys
from fidelia.privacy import erase_person, export_person, find_person
from fidelia.settings import Settings
from fidelia.sites import SiteRegistry
from fidelia.store import Store
from recommender.serving import SnapshotReader


class PrivacyAPI:
    def __init__(self, settings: Settings, sites: SiteRegistry, store: Store, keys: ApiKeys,
                 reader: SnapshotReader) -> None:
        self.settings = settings
        self.sites = sites
        self.store = store
        self.keys = keys
        self.reader = reader

    def routes(self) -> list[Route]:
        return [Route("/v1/visitors/{id}", self.erase, methods=["DELETE"]),
                Route("/v1/visitors/{id}/export", self.export, methods=["GET"])]

    def _site_id(self, request: Request) -> str:
        site_id = request.query_params.get("site_id") or self.sites.all[0].site_id
        return self.sites.get(site_id).site_id

    async def erase(self, request: Request) -> Response:
        self.keys.require(request, "admin")
        person = await asyncio.to_thread(find_person, self.store, self._site_id(request), request.path_params["id"])
        removed = await asyncio.to_thread(erase_person, self.store, person, self.settings.snapshot_path,
                                          self.settings.data_dir)
        self.reader.refresh()
        return JSONResponse({"erased": True, "visitor_ids": len(person.visitors), "events": removed})

    async def export(self, request: Request) -> Response:
        self.keys.require(request, "admin")
        person = await asyncio.to_thread(find_person, self.store, self._site_id(request), request.path_params["id"])
        return JSONResponse(await asyncio.to_thread(export_person, self.store, person))
