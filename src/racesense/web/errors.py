"""One JSON error shape for every failure the API reports:

{"ok": false, "status": 413, "error": "too_large", "message": "A plain sentence."}
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("racesense.web")

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "timeout",
    411: "length_required",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    500: "internal_error",
    503: "busy",
}
RETRY_AFTER_S = 5


class ErrorBody(BaseModel):
    """The one shape of every error the API answers."""

    ok: Literal[False]
    status: int
    error: str  # stable, for programs: "not_found", "too_large", ...
    message: str  # a plain sentence, for people


def _document_errors(app: FastAPI) -> None:
    """The OpenAPI document says what every route may answer on failure: this shape,
    for any 4xx or 5xx (FastAPI's own 422 description, which this API never sends, is
    replaced)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schema["components"]["schemas"]["ErrorBody"] = ErrorBody.model_json_schema()
            error = {
                "description": "An error, in the API's one error shape",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}
                },
            }
            for operations in schema["paths"].values():
                for operation in operations.values():
                    responses = operation.setdefault("responses", {})
                    responses.pop("422", None)
                    responses["4XX"] = error
                    responses["5XX"] = error
            for name in ("HTTPValidationError", "ValidationError"):
                schema["components"]["schemas"].pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"ok": False, "status": status, "error": code, "message": message},
        status_code=status,
        headers=headers,
    )


def install(app: FastAPI) -> None:
    _document_errors(app)

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return error_response(exc.status, exc.code, exc.message, headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "The request failed."
        return error_response(exc.status_code, _CODES.get(exc.status_code, "error"), message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        detail = str(first.get("msg", "invalid value")).rstrip(".")
        message = f"{where}: {detail}." if where else "Invalid request."
        return error_response(422, "invalid", message)

    @app.exception_handler(OperationalError)
    async def _database_busy(_request: Request, exc: OperationalError) -> JSONResponse:
        # Locked for longer than its busy timeout, or unreachable: nothing was
        # acknowledged, and the client may simply try again.
        log.warning("database unavailable: %s", exc)
        message = "The database is busy or unreachable; nothing was stored. Try again shortly."
        return error_response(503, "busy", message, {"Retry-After": str(RETRY_AFTER_S)})

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return error_response(500, "internal_error", "The server failed; the error is logged.")
