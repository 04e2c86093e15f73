"""What the HTTP surface does for browsers' safety: security headers on every answer, a refusal of cross-site
state-changing requests, and the board's files served from an allow-list.

- Content-Security-Policy: scripts, styles, images and connections from the board's own origin only (images and
  video also from the camera hosts of `media.hosts`); no inline script or style (the board has none), no
  framing (`frame-ancestors 'none'`, and X-Frame-Options for older browsers), no plugins, no `<base>` tricks.
  Plus `nosniff`, `Referrer-Policy: no-referrer` and a Cross-Origin-Opener-Policy.
- Cross-site requests: a POST (PUT, PATCH, DELETE) that carries no bearer token is one a browser may have sent
  with the session cookie on another site's behalf. SameSite=Strict already keeps the cookie off such requests;
  as a second line, one the browser marks cross-site (`Sec-Fetch-Site`) or whose `Origin` is another host is
  refused with 403 `cross_site`. Requests with neither header come from programs, not browsers, and pass.
- Board files: only the names in `alerts.board.FILES`, never whatever lies in the folder (`/__init__.py` was
  served)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alerts.api.errors import error_response
from core.i18n import localized, request_lang, tr
from core.urls import AllowEntry


def csp(media_hosts: Sequence[AllowEntry] = (), image_hosts: Sequence[AllowEntry] = ()) -> str:
    """The Content-Security-Policy: everything from the board's own origin only, except camera snapshots and
    clips, which images and video may also load from the `media.hosts` allow-list, and the site plan's map
    tiles, which images may load from `image_hosts` (entries are checked host sources,
    `core.urls.parse_allow_entry`: they cannot carry a quote, a semicolon or another directive)."""
    media = "".join(f" {e.source}" for e in media_hosts)
    images = media + "".join(f" {e.source}" for e in image_hosts)
    return (
        f"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:{images}; "
        f"media-src 'self'{media}; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    )


CSP = csp()


def security_headers(media_hosts: Sequence[AllowEntry] = (), image_hosts: Sequence[AllowEntry] = ()) -> dict[str, str]:
    return {
        "content-security-policy": csp(media_hosts, image_hosts),
        "x-frame-options": "DENY",
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "cross-origin-opener-policy": "same-origin",
        "permissions-policy": "camera=(), microphone=(), geolocation=()",
    }


SECURITY_HEADERS: dict[str, str] = security_headers()
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SAME_SITE = frozenset({"same-origin", "none"})  # `none`: the user typed the address or used a bookmark


def cross_site_reason(method: str, headers: Headers) -> str | None:
    """Why a request must be refused as cross-site, or None. Pure."""
    if method in SAFE_METHODS or headers.get("authorization", "").lower().startswith("bearer "):
        return None
    site = headers.get("sec-fetch-site")
    if site is not None and site.lower() not in SAME_SITE:
        return tr("errors.cross_site_fetch", site=site)
    origin = headers.get("origin")
    if origin is not None and (origin == "null" or urlsplit(origin).netloc.lower() != headers.get("host", "").lower()):
        return tr("errors.cross_site_origin")
    return None


class BrowserSafety:
    """ASGI middleware: refuses cross-site state-changing requests, and adds the security headers to every
    answer (the API's and the board's, errors included)."""

    def __init__(
        self, app: ASGIApp, media_hosts: Sequence[AllowEntry] = (), image_hosts: Sequence[AllowEntry] = ()
    ) -> None:
        self.app = app
        self.headers = [(k.encode(), v.encode()) for k, v in security_headers(media_hosts, image_hosts).items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                have = {k.lower() for k, _ in headers}
                headers.extend((k, v) for k, v in self.headers if k not in have)
            await send(message)

        headers = Headers(scope=scope)
        reason = cross_site_reason(scope["method"], headers)
        if reason is not None:
            lang = request_lang(Request(scope).cookies.get("lang"), headers.get("accept-language"))
            await error_response(403, "cross_site", localized(reason, lang))(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)


def board_routes(
    folder: Path, files: dict[str, str], pages: dict[str, str] | None = None, missing: dict[str, str] | None = None
) -> list[Route]:
    """`/` and `/<name>` for each allowed name, with its media type, and each of `pages` (path pattern -> one of
    the names); `missing` (path pattern -> one of the names) answers 404 with that page, which says in words
    what is missing. Anything else is not the board's."""

    def serve(name: str, status: int = 200) -> Route:
        path, media_type = folder / name, files[name]

        async def endpoint(_request: object) -> Response:
            return FileResponse(path, status_code=status, media_type=media_type, headers={"Cache-Control": "no-cache"})

        return Route("/" if name == "index.html" else f"/{name}", endpoint, methods=["GET", "HEAD"])

    routes = [serve(name) for name in files]
    if "index.html" in files:
        routes.append(Route("/index.html", routes[list(files).index("index.html")].endpoint, methods=["GET", "HEAD"]))
    for path, name in (pages or {}).items():
        routes.append(Route(path, routes[list(files).index(name)].endpoint, methods=["GET", "HEAD"]))
    for path, name in (missing or {}).items():
        routes.append(Route(path, serve(name, 404).endpoint, methods=["GET", "HEAD"]))
    return routes
