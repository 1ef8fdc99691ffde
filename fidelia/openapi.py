"""`/openapi.json`: the public HTTP routes, described for client authors and fuzzers."""

from __future__ import annotations

from typing import Any

from collector.validate import EVENT_TYPES
from profiles.reports import REPORTS as REPORT_BUILDERS
from recommender.api import MAX_ITEMS, SLOTS

REPORTS = sorted(REPORT_BUILDERS)

ERROR = {"$ref": "#/components/schemas/Error"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): _json(ERROR, "error") for code in codes}


OFFER_PARAMS = [
    {"name": "slot", "in": "query", "schema": {"type": "string", "enum": list(SLOTS), "default": "home"}},
    {"name": "n", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ITEMS, "default": 8}},
    {"name": "rubrique", "in": "query", "description": "the current page's rubrique (cold start)",
     "schema": {"type": "string", "maxLength": 64}},
    {"name": "campaign", "in": "query", "description": "the visit's utm_campaign (cold start)",
     "schema": {"type": "string", "maxLength": 128}},
    {"name": "referrer", "in": "query", "description": "the page's referrer (cold start)",
     "schema": {"type": "string", "maxLength": 2048}},
    {"name": "site_id", "in": "query", "description": "needed only when several sites are configured",
     "schema": {"type": "string"}},
]
VISITOR_PATH = {"name": "visitor_id", "in": "path", "required": True, "schema": {"type": "string"}}
SITE_QUERY = {"name": "site_id", "in": "query", "schema": {"type": "string"}}
KEY: list[dict[str, list[str]]] = [{"apiKey": []}, {"bearer": []}]

EVENT = {
    "type": "object", "required": ["type"],
    "properties": {
        "type": {"type": "string", "enum": sorted(EVENT_TYPES)},
        "url": {"type": "string", "format": "uri", "maxLength": 2048},
        "referrer": {"type": "string", "maxLength": 2048},
        "rubrique": {"type": "string", "maxLength": 64},
        "ts": {"type": "integer", "description": "epoch milliseconds"},
        "props": {"type": "object"},
        "product_id": {"type": "string", "maxLength": 128},
        "price": {"type": "number", "minimum": 0},
        "quantity": {"type": "integer", "minimum": 1},
        "order_id": {"type": "string", "maxLength": 128},
        "revenue": {"type": "number", "minimum": 0},
        "items": {"type": "array", "items": {"type": "object", "required": ["product_id"], "properties": {
            "product_id": {"type": "string"}, "price": {"type": "number"}, "quantity": {"type": "integer"},
            "rubrique": {"type": "string"}}}},
        "customer_id": {"type": "string", "maxLength": 128},
        "query": {"type": "string", "maxLength": 512},
        "satisfaction": {"type": "integer", "minimum": 1, "maximum": 5},
        "nps": {"type": "integer", "minimum": 0, "maximum": 10},
    },
}
OFFER = {
    "type": "object",
    "properties": {
        "visitor_id": {"type": ["string", "null"]}, "slot": {"type": "string"}, "strategy": {"type": "string"},
        "holdout": {"type": "boolean"}, "promotion": {"type": ["string", "null"]},
        "items": {"type": "array", "items": {"type": "object", "properties": {
            "product_id": {"type": "string"}, "name": {"type": "string"}, "rubrique": {"type": "string"},
            "price": {"type": ["number", "null"]}, "url": {"type": "string"}, "score": {"type": "number"},
            "reason": {"type": "string"}}}},
        "profile": {"type": "object"},
    },
}


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Fidelia", "version": "1",
                 "description": "Tracking and customer profiles for e-shops. See docs/ in the repository."},
        "paths": {
            "/collect": {"post": {
                "summary": "A batch of events from a browser or a server-side tracker",
                "requestBody": {"required": True, "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Batch"}},
                    "text/plain": {"schema": {"type": "string",
                                               "description": "the same JSON, as sendBeacon sends it"}},
                }},
                "responses": {"204": {"description": "accepted"},
                              **_errors(400, 403, 404, 413, 415, 422, 429, 503)},
            }},
            "/consent": {"post": {
                "summary": "The visitor grants or refuses tracking; sets fid_consent, a refusal deletes the ids",
                "requestBody": {"required": True, "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/ConsentChoice"}},
                    "text/plain": {"schema": {"type": "string",
                                               "description": "the same JSON, as sendBeacon sends it"}},
                }},
                "responses": {"204": {"description": "remembered"}, **_errors(400, 403, 404, 413, 415, 422, 429)},
            }},
            "/p.gif": {"get": {
                "summary": "Pixel fallback: one event in the query string",
                "parameters": [{"name": "site_id", "in": "query", "required": True, "schema": {"type": "string"}},
                               {"name": "type", "in": "query", "required": True, "schema": {"type": "string"}},
                               {"name": "url", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": {"description": "a 1×1 GIF", "content": {"image/gif": {}}},
                              **_errors(404, 422, 429, 503)},
            }},
            "/t.js": {"get": {"summary": "The tracking snippet",
                              "responses": {"200": {"description": "JavaScript",
                                                    "content": {"application/javascript": {}}},
                                            "304": {"description": "not modified"}}}},
            "/v1/me": {"get": {
                "summary": "The visitor's own profile, identified by the fid_vid cookie only",
                "parameters": [SITE_QUERY],
                "responses": {"200": _json({"type": "object"}, "the profile, or {visitor_id, known: false}"),
                              **_errors(400, 404)},
            }},
            "/v1/me/recommendations": {"get": {
                "summary": "The visitor's offer for a page slot, with a profile summary (one call per page)",
                "parameters": OFFER_PARAMS,
                "responses": {"200": _json(OFFER, "the offer"), **_errors(400, 404)},
            }},
            "/v1/profiles/{visitor_id}": {"get": {
                "summary": "One visitor's profile (API key, scope profiles)", "security": KEY,
                "parameters": [VISITOR_PATH, SITE_QUERY],
                "responses": {"200": _json({"type": "object"}, "the profile"), **_errors(400, 401, 403, 404)},
            }},
            "/v1/recommendations/{visitor_id}": {"get": {
                "summary": "A visitor's offer (API key, scope profiles)", "security": KEY,
                "parameters": [VISITOR_PATH, *OFFER_PARAMS],
                "responses": {"200": _json(OFFER, "the offer"), **_errors(400, 401, 403, 404)},
            }},
            "/v1/reports/{name}": {"get": {
                "summary": "A merchandiser report (API key, scope reports)", "security": KEY,
                "parameters": [
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string", "enum": REPORTS}},
                    {"name": "from", "in": "query", "schema": {"type": "string", "format": "date"}},
                    {"name": "to", "in": "query", "schema": {"type": "string", "format": "date"}},
                    {"name": "by", "in": "query", "schema": {"type": "string", "enum": ["day", "week", "month"]}},
                    {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["json", "csv"]}},
                    SITE_QUERY,
                ],
                "responses": {"200": _json({"type": "object"}, "the report"), **_errors(400, 401, 403, 404)},
            }},
            "/v1/visitors/{id}": {"delete": {
                "summary": "Erase a visitor, or a customer with all their visitors (API key, scope admin)",
                "security": KEY, "parameters": [{"name": "id", "in": "path", "required": True,
                                                 "schema": {"type": "string", "maxLength": 128}}, SITE_QUERY],
                "responses": {"200": _json({"type": "object"}, "what was erased"), **_errors(400, 401, 403, 404)},
            }},
            "/v1/visitors/{id}/export": {"get": {
                "summary": "Everything held about a visitor or a customer (API key, scope admin)",
                "security": KEY, "parameters": [{"name": "id", "in": "path", "required": True,
                                                 "schema": {"type": "string", "maxLength": 128}}, SITE_QUERY],
                "responses": {"200": _json({"type": "object"}, "the export"), **_errors(400, 401, 403, 404)},
            }},
            "/healthz": {"get": {"summary": "Liveness", "responses": {"200": _json({"type": "object"}, "ok")}}},
            "/metrics": {"get": {"summary": "Prometheus metrics",
                                 "responses": {"200": {"description": "text", "content": {"text/plain": {}}}}}},
        },
        "components": {
            "schemas": {
                "Batch": {"type": "object", "required": ["site_id", "events"], "properties": {
                    "site_id": {"type": "string"}, "events": {"type": "array", "minItems": 1, "items": EVENT}}},
                "ConsentChoice": {"type": "object", "required": ["site_id", "consent"], "properties": {
                    "site_id": {"type": "string"}, "consent": {"type": "string", "enum": ["granted", "refused"]}}},
                "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
                    "code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"}}}}},
            },
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                                "bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
