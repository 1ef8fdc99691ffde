"""The one exception tree of Fidelia.

Errors that reach HTTP carry a status and a short machine code; one handler in the app
turns them into `{"error": {"code", "message", "field"}}`. The CLI prints the message and
exits non-zero. Messages name the field and the bad value and say what to do.
"""

from __future__ import annotations


class FideliaError(Exception):
    """Base of every error Fidelia raises on purpose."""

    status = 500
    code = "error"
    retry_after: int | None = None  # seconds, sent as Retry-After on 429 and 503

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_json(self) -> dict[str, dict[str, str]]:
        body = {"code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        return {"error": body}



def error_payload(error: FideliaError) -> tuple[int, dict[str, dict[str, str]]]:
    """Status and JSON body of the answer to a refused request, the one rule for every route.
    A 500's message names paths and statements: the log gets it (the caller logs), the client not."""
    if error.status == 500:
        return 500, {"error": {"code": error.code, "message": "internal error; see the server log"}}
    return error.status, error.to_json()


class InternalError(FideliaError):
    """A bug met while answering: the client gets a 500 without details, the log the traceback."""

    code = "internal"

class InvalidSetting(FideliaError):
    """A `FIDELIA_*` environment variable holds a value that cannot be used."""

    code = "invalid_setting"


class InvalidSitesConfig(FideliaError):
    """The sites file is missing, unreadable or malformed."""

    code = "invalid_sites_config"


class StoreError(FideliaError):
    """ClickHouse refused a statement."""

    code = "store_error"


class StoreUnavailable(StoreError):
    """ClickHouse cannot be reached."""

    status = 503
    code = "store_unavailable"


class StoreLocked(StoreUnavailable):
    """Another process (usually a running `fidelia serve`) holds the embedded store."""

    code = "store_locked"


class BadRequest(FideliaError):
    """The request cannot be read at all."""

    status = 400
    code = "bad_request"


class InvalidJSON(BadRequest):
    """The body is not valid JSON."""

    code = "invalid_json"


class InvalidEvent(FideliaError):
    """The batch is readable but an event in it breaks the wire format."""

    status = 422
    code = "invalid_event"


class TooManyEvents(InvalidEvent):
    """More events in one batch than `FIDELIA_MAX_BATCH_EVENTS`."""

    code = "too_many_events"


class BodyTooLarge(FideliaError):
    """The body is larger than `FIDELIA_MAX_BODY_BYTES`."""

    status = 413
    code = "body_too_large"


class UnsupportedContentType(FideliaError):
    """The body is not sent as `application/json` or `text/plain`."""

    status = 415
    code = "unsupported_content_type"


class UnknownSite(FideliaError):
    """The `site_id` is not in the sites config."""

    status = 404
    code = "unknown_site"


class OriginNotAllowed(FideliaError):
    """The browser's Origin is not in the site's allowed origins."""

    status = 403
    code = "origin_not_allowed"


class SpoolFull(FideliaError):
    """The on-disk spool cannot take more events (FIDELIA_SPOOL_MAX_BYTES reached, or disk full)."""

    status = 503
    code = "spool_full"
    retry_after = 30


class RateLimited(FideliaError):
    """One client sent more than FIDELIA_RATE_LIMIT_PER_MINUTE requests."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
