"""The monthly review: tickets, on-time rates (按期处置率), MTTA/MTTR and ratings per area, rule and period.

Pure: the store hands in one aggregated row per (micro-grid, rule, severity, period bucket) and this module
rolls them up to the scope's areas, its rules, a trend and the totals; nothing here does I/O.

Definitions, the same on every row:
- *acknowledged on time*: acknowledged and never escalated (or reminded) for lack of acknowledgement. Late: escalated
  for it, or still unacknowledged past its deadline. Tickets whose severity has no acknowledge deadline, and
  tickets closed by the system before anyone had to act, count in neither.
- *resolved on time*: resolved by a person and never escalated for lack of resolution. Late: escalated for it.
- MTTA / MTTR: mean seconds from the ticket's creation to its acknowledgement / to its resolution by a person.
- periods are calendar days or months in the street's time zone."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from enum import StrEnum

from alerts.errors import ValidationError
from alerts.sla import SlaPolicy
from core.i18n import render, tr
from rules.alert import Severity

#: The longest period one report covers (a leap year), so a typo cannot ask for a century of buckets.
MAX_DAYS = 366
#: Periods up to this many days get a trend per day; longer ones per month.
DAILY_UP_TO_DAYS = 62


class ReportError(ValidationError):
    """A report asked for in a way that cannot be answered (a malformed period, a scope not the caller's)."""

    status = 422
    code = "bad_report"


class Bucket(StrEnum):
    DAY = "day"
    MONTH = "month"


@dataclass(frozen=True, slots=True)
class Period:
    """`[start, end)` in epoch seconds; `first`/`last` the calendar days it covers; `edges` the bucket starts."""

    first: date
    last: date
    start: float
    end: float
    bucket: Bucket
    edges: tuple[float, ...]
    labels: tuple[str, ...]


_MONTH = re.compile(r"(\d{4})-(\d{2})")
_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def _day(text: str, name: str) -> date:
    m = _DAY.fullmatch(text)
    try:
        if m is None:
            raise ValueError(text)
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        raise ReportError(tr("errors.report_bad_day", name=name, text=text)) from None


def parse_period(month: str | None, since: str | None, until: str | None, tz: tzinfo, today: date) -> Period:
    """The period a request names: `month` (YYYY-MM), or `since`/`until` (YYYY-MM-DD, both days included); by
    default the current month up to today."""
    if month is not None and (since is not None or until is not None):
        raise ReportError(tr("errors.report_month_or_range"))
    if month is not None:
        m = _MONTH.fullmatch(month)
        if m is None or not 1 <= int(m[2]) <= 12 or int(m[1]) < 1970:
            raise ReportError(tr("errors.report_bad_month", month=month))
        first = date(int(m[1]), int(m[2]), 1)
        last = _next_month(first) - timedelta(days=1)
    elif since is not None or until is not None:
        first = _day(since, "from") if since is not None else today.replace(day=1)
        last = _day(until, "to") if until is not None else today
    else:
        first, last = today.replace(day=1), today
    if last < first:
        raise ReportError(tr("errors.report_to_before_from"))
    if (last - first).days + 1 > MAX_DAYS:
        raise ReportError(tr("errors.report_too_long", days=MAX_DAYS))
    bucket = Bucket.DAY if (last - first).days + 1 <= DAILY_UP_TO_DAYS else Bucket.MONTH
    starts: list[date] = []
    d = first
    while d <= last:
        starts.append(d)
        d = d + timedelta(days=1) if bucket is Bucket.DAY else _next_month(d.replace(day=1))
    edges = tuple(_midnight(s, tz) for s in starts)
    labels = tuple(s.isoformat() if bucket is Bucket.DAY else s.strftime("%Y-%m") for s in starts)
    return Period(first, last, edges[0], _midnight(last + timedelta(days=1), tz), bucket, edges, labels)


def _next_month(d: date) -> date:
    return date(d.year + d.month // 12, d.month % 12 + 1, 1)


def _midnight(d: date, tz: tzinfo) -> float:
    return datetime(d.year, d.month, d.day, tzinfo=tz).timestamp()


@dataclass(frozen=True, slots=True)
class Counts:
    """One aggregated row from the store: tickets of one micro-grid, rule and severity created in one bucket."""

    microgrid_id: str
    rule_id: str
    severity: str
    bucket: int  # index into `Period.edges`
    tickets: int = 0
    open: int = 0
    acknowledged: int = 0
    tta_sum: float = 0.0
    ack_on_time: int = 0
    ack_late: int = 0
    resolved: int = 0  # by a person
    ttr_sum: float = 0.0
    resolve_on_time: int = 0
    resolve_late: int = 0
    rated: int = 0
    rating_sum: float = 0.0
    title: str = ""  # a title of these tickets: names the rule in the report


@dataclass(slots=True)
class Figures:
    """What every line of the report shows."""

    tickets: int = 0
    open: int = 0
    acknowledged: int = 0
    resolved: int = 0
    ack_on_time: int = 0
    ack_late: int = 0
    resolve_on_time: int = 0
    resolve_late: int = 0
    rated: int = 0
    _tta_sum: float = 0.0
    _ttr_sum: float = 0.0
    _rating_sum: float = 0.0

    def add(self, c: Counts, sla: SlaPolicy) -> None:
        self.tickets += c.tickets
        self.open += c.open
        self.acknowledged += c.acknowledged
        self.resolved += c.resolved
        self._tta_sum += c.tta_sum
        self._ttr_sum += c.ttr_sum
        self.rated += c.rated
        self._rating_sum += c.rating_sum
        spec = sla.sla(_severity(c.severity), c.rule_id)
        if spec.ack_s is not None:
            self.ack_on_time += c.ack_on_time
            self.ack_late += c.ack_late
        if spec.resolve_s is not None:
            self.resolve_on_time += c.resolve_on_time
            self.resolve_late += c.resolve_late

    @property
    def ack_on_time_rate(self) -> float | None:
        return _rate(self.ack_on_time, self.ack_late)

    @property
    def resolve_on_time_rate(self) -> float | None:
        return _rate(self.resolve_on_time, self.resolve_late)

    @property
    def mtta_s(self) -> float | None:
        return round(self._tta_sum / self.acknowledged, 1) if self.acknowledged else None

    @property
    def mttr_s(self) -> float | None:
        return round(self._ttr_sum / self.resolved, 1) if self.resolved else None

    @property
    def rating(self) -> float | None:
        return round(self._rating_sum / self.rated, 2) if self.rated else None

    def as_dict(self) -> dict[str, int | float | None]:
        return {
            "tickets": self.tickets,
            "open": self.open,
            "acknowledged": self.acknowledged,
            "ack_on_time_rate": self.ack_on_time_rate,
            "resolved": self.resolved,
            "resolve_on_time_rate": self.resolve_on_time_rate,
            "mtta_s": self.mtta_s,
            "mttr_s": self.mttr_s,
            "rating": self.rating,
            "rated": self.rated,
        }


def _rate(on_time: int, late: int) -> float | None:
    return round(on_time / (on_time + late), 4) if on_time + late else None


def _severity(value: str) -> Severity:
    try:
        return Severity(value)
    except ValueError:
        return Severity.INFO


@dataclass(frozen=True, slots=True)
class Area:
    id: str
    level: str
    name: str


@dataclass(slots=True)
class Report:
    scope: Area
    period: Period
    area_level: str
    totals: Figures = field(default_factory=Figures)
    by_area: dict[str, tuple[Area, Figures]] = field(default_factory=dict)
    by_rule: dict[str, Figures] = field(default_factory=dict)
    trend: list[Figures] = field(default_factory=list)
    rule_titles: dict[str, str] = field(default_factory=dict)  # rule id -> a title its tickets carry


def build_report(
    rows: Iterable[Counts],
    *,
    scope: Area,
    period: Period,
    area_level: str,
    area_of: Callable[[str], Area],
    sla: SlaPolicy,
    areas: Sequence[Area] = (),
) -> Report:
    """Roll the store's rows up. `area_of(microgrid_id)` names the area at `area_level` a micro-grid lies in;
    `areas` are listed first and in their order, even without tickets, so a quiet grid shows as 0 rather than
    missing."""
    report = Report(scope, period, area_level, trend=[Figures() for _ in period.edges])
    for a in areas:
        report.by_area[a.id] = (a, Figures())
    for c in rows:
        report.totals.add(c, sla)
        area = area_of(c.microgrid_id)
        report.by_area.setdefault(area.id, (area, Figures()))[1].add(c, sla)
        report.by_rule.setdefault(c.rule_id, Figures()).add(c, sla)
        if c.title:
            report.rule_titles.setdefault(c.rule_id, c.title)
        if 0 <= c.bucket < len(report.trend):
            report.trend[c.bucket].add(c, sla)
    return report


#: The figures of an exported row, in order; each column's words are `board.report.export.<figure>`.
COLUMNS: tuple[str, ...] = (
    "tickets",
    "open",
    "acknowledged",
    "ack_on_time_rate",
    "resolved",
    "resolve_on_time_rate",
    "mtta_s",
    "mttr_s",
    "rating",
    "rated",
)
#: The figures that are fractions (a spreadsheet shows them as percentages).
RATES = frozenset({"ack_on_time_rate", "resolve_on_time_rate"})
#: The parts of an export (the CSV's first column, the workbook's sheets), named by `board.report.section.<part>`.
SECTIONS = ("totals", "by_area", "by_rule", "trend")


def report_dict(report: Report, rule_names: Callable[[str], str] | None = None) -> dict[str, object]:
    """The report as the JSON the API answers (and CSV/XLSX are written from)."""
    p = report.period
    return {
        "scope": {"id": report.scope.id, "level": report.scope.level, "name": report.scope.name},
        "period": {"from": p.first.isoformat(), "to": p.last.isoformat(), "bucket": p.bucket.value},
        "area_level": report.area_level,
        "totals": report.totals.as_dict(),
        "by_area": [
            {"id": a.id, "level": a.level, "name": a.name, **f.as_dict()}
            for a, f in report.by_area.values()  # the order of `areas`, then areas no longer in the registry
        ],
        "by_rule": [
            {"rule_id": r, "name": rule_names(r) if rule_names else r, **f.as_dict()}
            for r, f in sorted(report.by_rule.items(), key=lambda rf: (-rf[1].tickets, rf[0]))
        ],
        "trend": [{"start": label, **f.as_dict()} for label, f in zip(p.labels, report.trend, strict=True)],
    }


def export_head(lang: str) -> list[object]:
    """The header of an exported section in `lang`: id, name, then the figures."""
    words = ("id", "name", *COLUMNS)
    return [render(f"board.report.export.{word}", lang) for word in words]


def section_rows(report: Report, rule_names: Callable[[str], str] | None = None) -> list[tuple[str, list[object]]]:
    """The report's rows for export, each with its section (one of `SECTIONS`): id, name, then the figures."""
    data = report_dict(report, rule_names)
    out: list[tuple[str, list[object]]] = []

    def line(section: str, ident: str, name: str, figures: Mapping[str, object]) -> None:
        out.append((section, [ident, name, *(figures[k] for k in COLUMNS)]))

    line("totals", report.scope.id, report.scope.name, report.totals.as_dict())
    sections = (("by_area", "id", "name"), ("by_rule", "rule_id", "name"), ("trend", "start", "start"))
    for section, id_key, name_key in sections:
        items = data[section]
        assert isinstance(items, list)
        for item in items:
            line(section, str(item[id_key]), str(item[name_key]), item)
    return out


def table_rows(report: Report, lang: str, rule_names: Callable[[str], str] | None = None) -> list[list[object]]:
    """The report as one flat table (CSV; XLSX has one sheet per section) in `lang`: the section in words, id,
    name, then the figures."""
    head = [render("board.report.export.section", lang), *export_head(lang)]
    sections = {s: render(f"board.report.section.{s}", lang) for s in SECTIONS}
    return [head, *([sections[section], *row] for section, row in section_rows(report, rule_names))]
