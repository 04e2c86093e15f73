"""Dependencies of the `/api/v1` routes: the services the wiring put on the app, and the caller's session.

The wiring builds one `AlertsApi` and hands it to `alerts.api.mount`, which keeps it on `app.state`; routes ask
for what they need through the `Annotated` aliases below, so every route module is plain module-level code and
tests swap in their own services the same way the wiring does.

Authentication: `Authorization: Bearer <token>` or the `cwatch_session` cookie (HttpOnly, SameSite=Strict)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from typing import Annotated

from fastapi import Depends, Request

from alerts.accounts import AccountStore
from alerts.actionlinks import ActionLinks
from alerts.api.frames import TicketFrames
from alerts.errors import ForbiddenError
from alerts.evidence import TelemetryReader
from alerts.linkactions import LinkActions
from alerts.media import MediaPolicy
from alerts.model import Account
from alerts.photos import Photos
from alerts.scope import Hierarchy
from alerts.service import TicketService
from alerts.stream import ChangeHub
from alerts.throttle import LoginThrottle
from core.i18n import joined, tr
from devices.model import Role

COOKIE = "cwatch_session"


@dataclass
class AlertsApi:
    """What the `/api/v1` routes of `alerts` work with. `hub` feeds `/stream` (None: the service's notifier
    when it is a `ChangeHub`, else a hub that never fires)."""

    service: TicketService
    accounts: AccountStore
    registry: Callable[[], Hierarchy]
    hub: ChangeHub | None = None
    heartbeat_s: float = 3.0  # a board that hears nothing for two of these and a second counts its stream lost
    throttle: LoginThrottle | None = None  # None: one on the accounts' store and clock
    link_actions: LinkActions | None = None  # None: one-tap links on the service's store, default lifetime
    media: MediaPolicy = field(default_factory=MediaPolicy)  # camera hosts shown, photo limits and requirements
    photos: Photos | None = None  # None: photos cannot be attached here (503)
    telemetry: TelemetryReader | None = None  # None: no evidence charts (the chart says why)
    tz: tzinfo = UTC  # the street's time zone: "usual at this hour of the day"
    tile_url: str | None = None  # map tiles under the site plan ({z}/{x}/{y}); None: the plan alone (offline)
    #: the rules in force: id -> the device classes it judges (None: any); a silence may name only these
    #: (None here: any rule id is taken, nothing is narrowed by class)
    rules: Callable[[], Mapping[str, frozenset[str] | None]] | None = None
    #: the rules in force: id -> title per language (None: rules are named from their tickets alone)
    rule_titles: Callable[[], Mapping[str, Mapping[str, str]]] | None = None
    frames: TicketFrames = field(default_factory=TicketFrames)  # `/stream`'s frames, shared among its boards

    def __post_init__(self) -> None:
        if self.link_actions is None:
            self.link_actions = LinkActions(
                self.service, ActionLinks(self.service.engine), self.accounts.username_of_person
            )
        if self.throttle is None:
            self.throttle = LoginThrottle(self.accounts.engine, self.accounts.clock)
        if self.hub is None:
            notifier = self.service.notifier
            self.hub = notifier if isinstance(notifier, ChangeHub) else ChangeHub()

    async def rule_names(self, viewer: Account, rule_ids: Iterable[str]) -> dict[str, dict[str, str]]:
        """Each rule's title per language: the rule set's, else (a rule no longer in force) the one the newest
        ticket of it in the viewer's scope carries; a rule with neither is left out."""
        wanted = set(rule_ids)
        own = self.rule_titles() if self.rule_titles is not None else {}
        found = {r: dict(own[r]) for r in wanted if r in own}
        rest = wanted - found.keys()
        return {**await self.service.rule_titles(viewer, rest), **found} if rest else found

    @property
    def login_throttle(self) -> LoginThrottle:
        assert self.throttle is not None
        return self.throttle

    @property
    def links(self) -> LinkActions:
        assert self.link_actions is not None
        return self.link_actions


def alerts_api(request: Request) -> AlertsApi:
    api: AlertsApi = request.app.state.alerts_api
    return api


Api = Annotated[AlertsApi, Depends(alerts_api)]


def session_token(request: Request) -> str | None:
    """The bearer token, else the session cookie."""
    header = request.headers.get("authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else request.cookies.get(COOKIE)


async def current_account(request: Request, api: Api) -> Account:
    """The account of the caller's live session; 401 otherwise."""
    return await api.accounts.authenticate(session_token(request))


Viewer = Annotated[Account, Depends(current_account)]


def requires(*roles: Role) -> Callable[[Account], Account]:
    """A dependency that lets only callers with one of `roles` through (403 for the others)."""
    allowed = frozenset(roles)

    def check(viewer: Viewer) -> Account:
        if viewer.role not in allowed:
            roles = joined([tr(f"names.role.{r.value}") for r in sorted(allowed)])
            raise ForbiddenError(tr("errors.roles_only", roles=roles))
        return viewer

    return check


def client_address(request: Request) -> str:
    """The caller's address as the server saw it (behind a proxy: as the proxy headers say, see deployment)."""
    return request.client.host if request.client is not None else ""
