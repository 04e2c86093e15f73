"""What a ticket's evidence chart shows, computed from the telemetry store's points. Pure, apart from
`build_chart`, which asks a `TelemetryReader` (the read seam of `ingest.sinks`) for the points.

- A lone-elderly water ticket (`WATER_RULES`) and a water meter's own ticket: the household's (or meter's) water
  use per hour over the last 72 h, against its usual use at that hour of the day (the middle half and the median
  of the 14 days before), the hours without data left empty (a silent meter is not "no water used"), how long
  it has been quiet now and how long its longest quiet stretch usually is.
- Another device's ticket: the device's own recent values (`DEVICE_FIELDS`) over the last 72 h, in 15-minute
  buckets (the highest value of each: alarms are about peaks).

Use per hour comes from the cumulative register: the rise between two readings of a meter is spread evenly over
the time between them (intervals over 26 h say too little about when and are left out); a register that steps
back is no use. The usual band is computed from the same store, so the chart needs nothing of the rule engine;
it shows what the learned-routine rules learn from."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any, Literal, Protocol

from alerts.model import Ticket
from core.i18n import tr

HOUR_S = 3600.0
WINDOW_S = 72 * HOUR_S
HISTORY_DAYS = 14
DEVICE_BUCKET_S = 900.0
MAX_GAP_S = 26 * HOUR_S
STEP_BACK_M3 = 0.010
USED_L = 1.0  # an hour with at least this much is an hour with use
WATER_RULES = frozenset({"elderly_no_water", "elderly_unusual_inactivity", "elderly_high_use"})

#: per device class: the numeric fields a device ticket charts, with their unit
DEVICE_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "smoke_detector": (("smoke_obscuration_pct", "%/m"), ("temperature_c", "°C")),
    "gas_detector": (("gas_lel_pct", "%LEL"), ("co_ppm", "ppm")),
    "manhole_cover": (("tilt_deg", "°"), ("water_level_cm", "cm")),
    "trash_bin": (("fill_pct", "%"), ("temperature_c", "°C")),
    "ebike_charger": (("power_w", "W"), ("temperature_c", "°C")),
    "access_control": (("door_open", "0/1"),),
}

Point = tuple[float, dict[str, float]]


class TelemetryReader(Protocol):
    """The read side of the telemetry store (`ingest.sinks`: SQLite, InfluxQL)."""

    async def values(
        self, measurement: str, device_id: str, fields: Sequence[str], start: float, end: float, *, limit: int = ...
    ) -> list[Point]:
        """A device's numeric `fields` (booleans as 0/1) with `start <= ts < end`, oldest first."""
        ...


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    unit: str
    values: list[float | None]


@dataclass(frozen=True, slots=True)
class Chart:
    kind: Literal["water_use", "device_values", "none"]
    start: float = 0.0
    bucket_s: float = HOUR_S
    series: list[Series] = field(default_factory=list)
    usual_low: list[float | None] = field(default_factory=list)
    usual_mid: list[float | None] = field(default_factory=list)
    usual_high: list[float | None] = field(default_factory=list)
    markers: list[tuple[float, str]] = field(default_factory=list)
    quiet_h: float | None = None
    usual_quiet_h: float | None = None
    note: str | None = None  # why there is no chart, or what is missing (a catalog `Text`)


# --- water use ------------------------------------------------------------------------------------------------


def hourly_use(readings: Sequence[Sequence[tuple[float, float]]], start: float, hours: int) -> list[float | None]:
    """Litres used in each hour from `start`, over all meters' register readings (each meter's (ts, m3) oldest
    first); None for an hour less than half covered by any meter's readings."""
    litres = [0.0] * hours
    covered = [0.0] * hours
    for series in readings:
        mine = [0.0] * hours  # seconds of each hour this meter's readings cover
        for (t1, v1), (t2, v2) in itertools.pairwise(series):
            if t2 <= t1 or t2 - t1 > MAX_GAP_S:
                continue
            used = v2 - v1
            if used < -STEP_BACK_M3:
                continue  # another register (a replaced meter): says nothing
            rate = max(0.0, used) * 1000 / (t2 - t1)
            first = max(0, int((t1 - start) // HOUR_S))
            last = min(hours - 1, int((t2 - start) // HOUR_S))
            for h in range(first, last + 1):
                lo, hi = max(t1, start + h * HOUR_S), min(t2, start + (h + 1) * HOUR_S)
                if hi > lo:
                    litres[h] += rate * (hi - lo)
                    mine[h] += hi - lo
        covered = [max(a, b) for a, b in zip(covered, mine, strict=True)]
    return [round(v, 1) if c >= HOUR_S / 2 else None for v, c in zip(litres, covered, strict=True)]


def _percentile(values: Sequence[float], q: float) -> float:
    s = sorted(values)
    pos = (len(s) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def usual_by_hour(
    history: Sequence[float | None], history_start: float, tz: tzinfo
) -> dict[int, tuple[float, float, float]]:
    """Per local hour of the day: (25th percentile, median, 75th percentile) of the litres of the history's hours
    (at least 3 days known for that hour)."""
    by_hour: dict[int, list[float]] = {}
    for i, v in enumerate(history):
        if v is not None:
            by_hour.setdefault(_local_hour(history_start + i * HOUR_S, tz), []).append(v)
    return {
        h: (_percentile(vs, 0.25), _percentile(vs, 0.5), _percentile(vs, 0.75))
        for h, vs in by_hour.items()
        if len(vs) >= 3
    }


def quiet_runs(hours: Sequence[float | None]) -> list[tuple[int, int]]:
    """Runs of consecutive known hours under `USED_L`: (first index, length)."""
    runs: list[tuple[int, int]] = []
    start = None
    for i, v in enumerate([*hours, None]):
        quiet = v is not None and v < USED_L
        if quiet and start is None:
            start = i
        elif not quiet and start is not None:
            runs.append((start, i - start))
            start = None
    return runs


def usual_longest_quiet(history: Sequence[float | None]) -> float | None:
    """The 90th percentile over the history's days of each day's longest quiet stretch, in hours (a stretch
    counts for the day it ends in); None with fewer than 3 days."""
    longest: dict[int, int] = {}
    for first, length in quiet_runs(history):
        day = (first + length - 1) // 24
        longest[day] = max(longest.get(day, 0), length)
    if len(longest) < 3:
        return None
    return round(_percentile(list(longest.values()), 0.9), 1)


def water_chart(
    readings: Sequence[Sequence[tuple[float, float]]], end: float, tz: tzinfo, markers: list[tuple[float, str]]
) -> Chart:
    """The water-use chart of the 72 h before `end` (hour-aligned), from every meter's register readings since
    `HISTORY_DAYS` days before that."""
    window_start = math.ceil(end / HOUR_S) * HOUR_S - WINDOW_S
    history_start = window_start - HISTORY_DAYS * 24 * HOUR_S
    hours = int(WINDOW_S // HOUR_S)
    history = hourly_use(readings, history_start, HISTORY_DAYS * 24)
    shown = hourly_use(readings, window_start, hours)
    usual = usual_by_hour(history, history_start, tz)
    bands = [usual.get(_local_hour(window_start + i * HOUR_S, tz)) for i in range(hours)]
    now_index = min(hours, int((end - window_start) // HOUR_S) + 1)
    quiet = None
    seen = shown[:now_index]
    if any(v is not None for v in seen):
        last_used = max((i for i, v in enumerate(seen) if v is not None and v >= USED_L), default=None)
        since = window_start + (last_used + 1) * HOUR_S if last_used is not None else window_start
        quiet = round(max(0.0, end - since) / HOUR_S, 1)
    known = sum(v is not None for v in shown)
    return Chart(
        "water_use",
        start=window_start,
        bucket_s=HOUR_S,
        series=[Series("water_l", "L/h", shown)],
        usual_low=[b[0] if b else None for b in bands],
        usual_mid=[b[1] if b else None for b in bands],
        usual_high=[b[2] if b else None for b in bands],
        markers=markers,
        quiet_h=quiet,
        usual_quiet_h=usual_longest_quiet(history),
        note=None if known else tr("board.evidence_note.no_meter_readings"),
    )


# --- a device's values ----------------------------------------------------------------------------------------


def device_chart(
    points: Sequence[Point], fields: Sequence[tuple[str, str]], end: float, markers: list[tuple[float, str]]
) -> Chart:
    """The device's values over the 72 h before `end`, the highest of each 15-minute bucket."""
    start = math.ceil(end / DEVICE_BUCKET_S) * DEVICE_BUCKET_S - WINDOW_S
    n = int(WINDOW_S // DEVICE_BUCKET_S)
    series = []
    for name, unit in fields:
        values: list[float | None] = [None] * n
        for ts, row in points:
            v = row.get(name)
            i = int((ts - start) // DEVICE_BUCKET_S)
            if v is None or not 0 <= i < n:
                continue
            current = values[i]
            values[i] = v if current is None else max(current, v)
        if any(v is not None for v in values):
            series.append(Series(name, unit, values))
    return Chart(
        "device_values",
        start=start,
        bucket_s=DEVICE_BUCKET_S,
        series=series,
        markers=markers,
        note=None if series else tr("board.evidence_note.no_device_readings"),
    )


# --- which chart a ticket gets --------------------------------------------------------------------------------


async def build_chart(ticket: Ticket, registry: Any, reader: TelemetryReader, now: float, tz: tzinfo) -> Chart:
    """The chart of `ticket`'s evidence, read from `reader` (`SinkUnavailable` and the like propagate)."""
    end = min(now, ticket.resolved_at) if ticket.resolved_at is not None else now
    markers = [(ticket.first_seen, "alarm")]
    last_use = ticket.details.get("last_use")
    if isinstance(last_use, int | float) and not isinstance(last_use, bool):
        markers.append((float(last_use), "last_use"))
    device = registry.device(ticket.device_id) if ticket.device_id else None
    meters: list[str] = []
    if ticket.household_id is not None and (ticket.rule_id in WATER_RULES or _is_meter(device)):
        meters = [d.id for d in _household_devices(registry, ticket.household_id) if _is_meter(d)]
    elif device is not None and _is_meter(device):
        meters = [device.id]
    if meters:
        start = math.ceil(end / HOUR_S) * HOUR_S - WINDOW_S - HISTORY_DAYS * 24 * HOUR_S - MAX_GAP_S
        readings = []
        for meter in meters:
            points = await reader.values("water_meter", meter, ["volume_m3"], start, end + 1, limit=50_000)
            readings.append([(ts, row["volume_m3"]) for ts, row in points if "volume_m3" in row])
        return water_chart(readings, end, tz, markers)
    if device is not None:
        fields = DEVICE_FIELDS.get(str(getattr(device.device_class, "value", device.device_class)))
        if fields:
            start = end - WINDOW_S - DEVICE_BUCKET_S
            points = await reader.values(
                str(device.device_class.value), device.id, [f for f, _ in fields], start, end + 1, limit=50_000
            )
            return device_chart(points, fields, end, markers)
    return Chart("none", note=tr("board.evidence_note.nothing_to_chart"))


def _is_meter(device: Any) -> bool:
    return device is not None and str(getattr(device.device_class, "value", "")) == "water_meter"


def _household_devices(registry: Any, household_id: str) -> list[Any]:
    lookup = getattr(registry, "devices_of_household", None)
    try:
        return list(lookup(household_id)) if lookup is not None else []
    except (KeyError, LookupError):
        return []


def _local_hour(ts: float, tz: tzinfo) -> int:
    return datetime.fromtimestamp(ts, tz).hour
