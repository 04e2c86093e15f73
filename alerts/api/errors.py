"""The one error shape of the HTTP API, its OpenAPI description, and the handlers that produce it.

Every 4xx and 5xx answers `{"error": {"code": ..., "message": ..., "fields": [...]}}`: `code` is stable and
machine-readable (`alerts.errors.AlertsError.code`, or one of the HTTP-level codes below), `message` is for
people, in the caller's language (`request_lang`: the board's `lang` cookie, else `Accept-Language`), `fields`
names each bad field of a refused request (validation errors only). No body carries SQL, driver messages or
stack traces: those go to the log."""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from alerts.errors import AlertsError, TooManyAttemptsError
from core.i18n import EN, catalog, localized, render, request_lang, tr

log = logging.getLogger("alerts.api")


class FieldError(BaseModel):
    field: str = Field(description="dotted path of the field in the body or the query, or `body`")
    message: str


class ErrorDetail(BaseModel):
    code: str = Field(description="stable machine-readable name, e.g. `not_found`, `validation_error`")
    message: str = Field(
        description="what went wrong, for people: in Chinese or English as the `lang` cookie (set by the board's "
        "language switch), else `Accept-Language`, asks; English when neither names Chinese"
    )
    fields: list[FieldError] | None = Field(default=None, description="validation errors only: each bad field")


class ErrorBody(BaseModel):
    """The body of every error answer."""

    error: ErrorDetail


_DESCRIPTIONS = {
    400: "Bad request",
    401: "Not logged in, unknown or expired session, wrong username or password (`unauthorized`)",
    403: "Your role may not do this here (`forbidden`), or a cross-site request (`cross_site`)",
    404: "No such item in your scope (`not_found`): out-of-scope items look exactly like missing ones",
    409: "Not possible in the item's current state (`invalid_transition`, `conflict`)",
    413: "The upload is too large (`photo_too_large`, `photo_too_many_pixels`)",
    415: "The upload is not a JPEG, PNG or WebP picture, judged by its content (`photo_unsupported_type`)",
    410: "A one-tap link that cannot act any more (`link_used`, `link_expired`, `link_other_ticket`, "
    "`link_moved_on`, `link_not_allowed`)",
    422: "The request is malformed or breaks a rule (`validation_error` with `fields`, or a named code)",
    429: "Too many failed logins: wait `Retry-After` seconds (`too_many_attempts`)",
    503: "The store (or the rule engine) is unavailable; try again (`store_unavailable`, `unavailable`)",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` entry for these error statuses, all with the `ErrorBody` schema."""
    return {s: {"model": ErrorBody, "description": _DESCRIPTIONS.get(s, "Error")} for s in statuses}


#: Every route can answer these: a malformed request, or a store that is down.
COMMON_ERRORS = error_responses(422, 503)
#: Routes that need a session add these.
AUTH_ERRORS = error_responses(401, 403)


def error_response(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    body = ErrorBody(error=ErrorDetail(code=code, message=message, **extra))
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, headers=headers)


_HTTP_CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}


def _field_message(err: Any, lang: str) -> str:
    """A refused field's reason: pydantic's own (English) text, or the catalog's Chinese for the common types
    (`errors.field.<type>`, filled from pydantic's context)."""
    own = str(err.get("msg", "invalid"))
    key = f"errors.field.{err.get('type', '')}"
    if lang == EN or key not in catalog():
        return own
    ctx = dict(err.get("ctx") or {})
    expected = ctx.get("expected")
    if isinstance(expected, str):  # pydantic's "'a', 'b' or 'c'": its last "or" in the reader's words
        ctx["expected"] = re.sub(r" or ('[^']*')$", lambda m: render("names.or", lang) + m.group(1), expected)
    try:
        return render(key, lang, ctx)
    except KeyError:  # a context without the value the text names
        return own


def lang_of(request: Request) -> str:
    """The language a request's answers are in: the board's `lang` cookie, else `Accept-Language`."""
    return request_lang(request.cookies.get("lang"), request.headers.get("accept-language"))


def install_error_handlers(app: FastAPI) -> None:
    """Make every error of `app` an `ErrorBody`; validation errors name the fields."""

    async def alerts_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AlertsError)
        if exc.status >= 500:  # the cause (SQL, parameters, driver message) is for the log only
            log.error("%s %s: %s", request.method, request.url.path, exc.message, exc_info=exc)
            return error_response(exc.status, exc.code, localized(exc.public_message, lang_of(request)))
        response = error_response(exc.status, exc.code, exc.message_for(lang_of(request)))
        if isinstance(exc, TooManyAttemptsError):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        lang = lang_of(request)
        fields = []
        for err in exc.errors():
            # a body that is not JSON: pydantic's location is the character offset, not a field
            where = () if err.get("type") == "json_invalid" else err.get("loc", ())
            loc = [str(x) for x in where if x not in ("body", "query", "path")]
            fields.append(FieldError(field=".".join(loc) or "body", message=_field_message(err, lang)))
        message = "; ".join(f"{f.field}: {f.message}" for f in fields) or tr("errors.invalid_request").in_lang(lang)
        return error_response(422, "validation_error", message, fields=fields)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if detail == HTTPStatus(exc.status_code).phrase and f"errors.http_{exc.status_code}" in catalog():
            detail = tr(f"errors.http_{exc.status_code}")  # Starlette's own words: no such route, wrong method
        return error_response(exc.status_code, code, localized(detail, lang_of(request)))

    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return error_response(500, "internal_error", tr("errors.internal").in_lang(lang_of(request)))

    app.add_exception_handler(AlertsError, alerts_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, internal_error)
