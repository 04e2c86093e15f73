"""Sessions: log in (token and cookie), log out, and who am I."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response

from alerts.api.deps import COOKIE, Api, Viewer, client_address, session_token
from alerts.api.errors import error_responses
from alerts.api.models import LoginBody, LoginOut, MeOut
from alerts.api.views import account_out, node_name
from alerts.errors import AuthError, TooManyAttemptsError
from alerts.lifecycle import Status, available_actions

log = logging.getLogger("alerts.api.auth")

router = APIRouter(tags=["session"])


@router.post("/auth/login", responses=error_responses(401, 429))
async def login(body: LoginBody, request: Request, response: Response, api: Api) -> LoginOut:
    """A session for valid credentials: the token in the body, and the same token as the `cwatch_session`
    cookie (HttpOnly, SameSite=Strict, Secure over HTTPS) for the board. Past a few failures under one
    username or from one address, attempts wait a growing delay (429 with `Retry-After`)."""
    throttle, address = api.login_throttle, client_address(request)
    try:
        await throttle.check(body.username, address)
    except TooManyAttemptsError:
        log.warning("login for %r from %s throttled", body.username, address)
        raise
    try:
        token, account = await api.accounts.login(body.username, body.password)
    except AuthError:
        log.warning("login for %r from %s failed", body.username, address)
        await throttle.failed(body.username, address)
        raise
    await throttle.succeeded(body.username)
    ttl = int(api.accounts.session_ttl)
    response.set_cookie(
        COOKIE, token, max_age=ttl, httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/"
    )
    return LoginOut(token=token, expires_in=ttl, account=account_out(account))


@router.post("/auth/logout", status_code=204)
async def logout(request: Request, response: Response, api: Api) -> None:
    """Ends the session (token or cookie) and clears the cookie."""
    token = session_token(request)
    if token:
        await api.accounts.logout(token)
    response.delete_cookie(COOKIE, path="/")


@router.get("/me", responses=error_responses(401))
async def me(viewer: Viewer, api: Api) -> MeOut:
    """The logged-in account, its scope's name and every action its role may ever take."""
    may = sorted({a for s in Status for a in available_actions(s, viewer.role)})
    return MeOut(**account_out(viewer).model_dump(), may=may, scope_name=node_name(api.registry(), viewer.scope_id))
