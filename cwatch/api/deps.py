"""What the `/api/v1` routes of `cwatch` work with: the store, the registry and the rule engine's answers,
kept on `app.state` by `cwatch.api.mount` (the session dependencies are `alerts.api.deps`')."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Protocol

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.api.deps import requires
from alerts.away import DEFAULT_MAX_DAYS, HouseholdAways
from alerts.model import Account
from core.clock import Clock, SystemClock
from devices.model import Role
from devices.registry import Registry

#: Dead letters carry raw device payloads from any grid: operators and street duty staff only.
OPS_ROLES = (Role.OPERATOR, Role.STREET_DUTY)


class AwayAnswers(Protocol):
    """The rule engine's side of "away confirmed" (`cwatch.answers.AbsenceAnswers`)."""

    def answer(self, household_id: str, until: float | None) -> None: ...


@dataclass
class OpsApi:
    engine: AsyncEngine
    registry: Callable[[], Registry]
    answers: AwayAnswers | None = None  # None: no rule engine in this process
    away_max_days: float = DEFAULT_MAX_DAYS
    clock: Clock = field(default_factory=SystemClock)  # the wall clock: an away is a date people gave

    @property
    def aways(self) -> HouseholdAways:
        return HouseholdAways(self.engine, self.away_max_days)


def ops_api(request: Request) -> OpsApi:
    api: OpsApi = request.app.state.ops_api
    return api


Ops = Annotated[OpsApi, Depends(ops_api)]
OpsViewer = Annotated[Account, Depends(requires(*OPS_ROLES))]
