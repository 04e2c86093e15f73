"""Response models of `GET /reports` (the monthly review)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class FiguresOut(BaseModel):
    tickets: int = Field(description="tickets created in the period")
    open: int = Field(description="of those, still open (not resolved or closed)")
    acknowledged: int
    ack_on_time_rate: float | None = Field(
        description="acknowledged without an escalation for lack of acknowledgement, of those with an acknowledge "
        "deadline that were acknowledged or went overdue (0-1; null without such tickets)"
    )
    resolved: int = Field(description="resolved by a person")
    resolve_on_time_rate: float | None = Field(
        description="按期处置率: resolved by a person without an escalation for lack of resolution, of those "
        "resolved by a person or escalated for it (0-1; null without such tickets)"
    )
    mtta_s: float | None = Field(description="mean seconds from creation to acknowledgement")
    mttr_s: float | None = Field(description="mean seconds from creation to resolution by a person")
    rating: float | None = Field(description="residents' mean rating, 1-5")
    rated: int = Field(description="tickets rated by residents")


class AreaFiguresOut(FiguresOut):
    id: str
    level: str
    name: str


class RuleFiguresOut(FiguresOut):
    rule_id: str
    name: str


class TrendFiguresOut(FiguresOut):
    start: str = Field(description="the bucket's first day (YYYY-MM-DD) or month (YYYY-MM)")


class ScopeOut(BaseModel):
    id: str
    level: str
    name: str


class PeriodOut(BaseModel):
    from_: str = Field(alias="from", description="first day, in the street's time zone")
    to: str = Field(description="last day (included)")
    bucket: str = Field(description="`day` or `month`: the trend's step")

    model_config = {"populate_by_name": True}


class ReportOut(BaseModel):
    scope: ScopeOut
    period: PeriodOut
    area_level: str = Field(description="the level of `by_area`'s rows")
    totals: FiguresOut
    by_area: list[AreaFiguresOut]
    by_rule: list[RuleFiguresOut]
    trend: list[TrendFiguresOut]
