"""`GET /reports`: the monthly review of a scope, as JSON, CSV or an Excel workbook."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from alerts.api.deps import Api, Viewer
from alerts.api.errors import error_responses, lang_of
from alerts.api.report_models import ReportOut
from alerts.reporting import viewer_report
from alerts.reports import Report, parse_period, report_dict, table_rows
from alerts.spreadsheet import workbook
from core.i18n import one_language

router = APIRouter(tags=["reports"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class Format(StrEnum):
    JSON = "json"
    CSV = "csv"
    XLSX = "xlsx"


@router.get(
    "/reports",
    response_model=ReportOut,
    responses={
        **error_responses(401, 422),
        200: {
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                XLSX: {"schema": {"type": "string", "format": "binary"}},
            },
            "description": "the report; CSV and XLSX hold the same figures as the JSON",
        },
    },
)
async def report(
    request: Request,
    api: Api,
    viewer: Viewer,
    month: Annotated[str | None, Query(max_length=16, description="YYYY-MM; or give from/to")] = None,
    since: Annotated[str | None, Query(alias="from", max_length=16, description="first day, YYYY-MM-DD")] = None,
    until: Annotated[str | None, Query(alias="to", max_length=16, description="last day (included)")] = None,
    scope: Annotated[str | None, Query(max_length=64, description="a street, community, grid or micro-grid")] = None,
    by: Annotated[str | None, Query(max_length=16, description="community, grid or microgrid rows")] = None,
    format: Annotated[Format, Query(description="json, csv or xlsx")] = Format.JSON,
) -> Response | ReportOut:
    """Tickets created in the period within `scope` (default your own), per area, per rule and per day (per month
    for periods over 62 days): counts, on-time rates of acknowledge and resolve (按期确认率, 按期处置率), MTTA,
    MTTR and residents' ratings. Days are the street's. A period is at most 366 days; by default the current
    month so far. Outside your scope, or malformed: 422 with the reason."""
    today = datetime.fromtimestamp(api.service.clock.now(), api.tz).date()
    period = parse_period(month, since, until, api.tz, today)
    result = await viewer_report(api.service, viewer, period, scope, by)
    lang = lang_of(request)
    names = rule_names(result, await api.rule_names(viewer, result.by_rule), lang)
    if format is Format.JSON:
        return ReportOut.model_validate(report_dict(result, names))
    name = f"cwatch-report-{result.scope.id}-{period.first.isoformat()}-{period.last.isoformat()}"
    if format is Format.CSV:
        return Response(
            _csv(result, lang, names),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    return Response(
        workbook(result, lang, names),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
    )


def rule_names(report: Report, titles: Mapping[str, Mapping[str, str]], lang: str) -> Callable[[str], str]:
    """A rule's name in `lang`: its title in that language (`titles`: `AlertsApi.rule_names`), else the title
    its tickets in the report carry, else its id."""

    def name(rule_id: str) -> str:
        own = titles.get(rule_id, {}).get(lang)
        return own if own else one_language(report.rule_titles.get(rule_id, rule_id), lang)

    return name


def _csv(report: Report, lang: str, names: Callable[[str], str]) -> str:
    buf = io.StringIO()
    # a BOM so spreadsheet programs open the Chinese names as UTF-8
    buf.write("\ufeff")
    csv.writer(buf).writerows(table_rows(report, lang, names))
    return buf.getvalue()
