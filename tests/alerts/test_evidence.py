"""The evidence chart's figures (`alerts.evidence`), from register readings as a meter sends them, and the same
chart from the two telemetry stores: SQLite and a real influxd 1.6 read with InfluxQL."""

from __future__ import annotations

import math
from datetime import UTC
from pathlib import Path

import msgspec
import pytest

from alerts.evidence import HISTORY_DAYS, HOUR_S, device_chart, hourly_use, water_chart
from core.clock import ManualClock
from devices.model import DeviceClass
from devices.reading import Reading
from devices.sample import sample_street
from ingest.sinks import InfluxV1Sink
from ingest.sinks.influx_read import InfluxQLReader
from ingest.sinks.sqlite import SqliteTelemetrySink
from testkit.services import InfluxProcess

from .evidence_data import first_device, smoke_rise, water_history

DAY_S = 24 * HOUR_S
END = 1_796_000_000.0 // DAY_S * DAY_S + 20 * HOUR_S  # 20:00 UTC


def routine(days: int, quiet_h: int) -> list[tuple[float, float]]:
    """A register read on every hour for `days` days until END: 20 L in the hour from 07:00 and 10 L in the
    hour from 18:00 (UTC) every day, nothing in the last `quiet_h` hours."""
    out, m3 = [], 100.0
    start = END - days * DAY_S
    for i in range(int(days * 24) + 1):
        ts = start + i * HOUR_S
        out.append((ts, round(m3, 4)))
        hour = int(ts // HOUR_S) % 24
        if ts < END - quiet_h * HOUR_S:
            m3 += {7: 0.020, 18: 0.010}.get(hour, 0.0)
    return out


def test_use_per_hour_comes_from_the_register_and_silence_is_not_zero() -> None:
    readings = routine(3, quiet_h=0)
    start = END - DAY_S
    use = hourly_use([readings], start, 24)
    by_hour = {int((start + i * HOUR_S) // HOUR_S) % 24: v for i, v in enumerate(use)}
    assert by_hour[7] == 20.0
    assert by_hour[18] == 10.0
    assert sum(v or 0 for v in use) == 30.0
    # more than 26 h without a reading is unknown (None), not a time without use (a shorter gap is spread)
    gap = [r for r in readings if not start - 20 * HOUR_S <= r[0] < start + 9 * HOUR_S]
    assert hourly_use([gap], start, 24)[:9] == [None] * 9
    assert hourly_use([gap], start, 24)[9] == 0.0
    # a register that steps back (a replaced meter) says nothing about its hour
    replaced = [(ts, v if ts < start + 12 * HOUR_S else v - 50) for ts, v in readings]
    assert hourly_use([replaced], start, 24)[11] is None  # the hour the register stepped back in


def test_the_water_chart_shows_72_hours_against_the_usual_and_how_long_it_has_been_quiet() -> None:
    chart = water_chart([routine(HISTORY_DAYS + 4, quiet_h=13)], END, UTC, [(END - 60, "alarm")])
    assert chart.kind == "water_use"
    assert len(chart.series[0].values) == 72
    hours = [int((chart.start + i * HOUR_S) // HOUR_S) % 24 for i in range(72)]
    assert {chart.usual_mid[i] for i, h in enumerate(hours) if h == 7} == {20.0}  # learned from 14 days
    assert {chart.usual_mid[i] for i, h in enumerate(hours) if h not in (7, 18)} == {0.0}
    # quiet since the end of the last use before the 13 h stop: 18:00-19:00 the day before, 25 h ago
    assert chart.quiet_h == pytest.approx(25.0, abs=0.1)
    assert chart.usual_quiet_h == 12.0  # the night: from 19:00 to the 07:00 use
    assert chart.note is None


def test_a_device_chart_keeps_the_peak_of_each_quarter_hour() -> None:
    points = [(END - 800, {"temperature_c": 21.0}), (END - 700, {"temperature_c": 48.5}), (END - 10, {})]
    chart = device_chart(points, [("temperature_c", "°C"), ("smoke_obscuration_pct", "%/m")], END, [])
    assert [s.name for s in chart.series] == ["temperature_c"]  # a field never seen is left out
    known = [v for v in chart.series[0].values if v is not None]
    assert known == [48.5]


@pytest.mark.influx
async def test_sqlite_and_influxdb_give_the_same_chart(tmp_path: Path, influxd: InfluxProcess) -> None:
    reg = sample_street(start=None)
    meter = first_device(reg, "mg-yg-1-1", DeviceClass.WATER_METER, watched=True)
    detector = first_device(reg, "mg-yg-1-1", DeviceClass.SMOKE_DETECTOR, watched=False)
    rows = water_history(reg, meter, END, quiet_h=14) + smoke_rise(reg, detector, END)
    readings = msgspec.convert(rows, list[Reading])
    sqlite = SqliteTelemetrySink(tmp_path / "t.db", retention_s=60 * DAY_S, clock=ManualClock(END))
    influx = InfluxV1Sink(influxd.url, "cwatch")
    reader = InfluxQLReader(influxd.url, "cwatch")
    try:
        influxd.create_database("cwatch")
        assert await sqlite.write(readings) == []
        assert await influx.write(readings) == []
        start = END - (HISTORY_DAYS + 4) * DAY_S
        charts = []
        for store in (sqlite, reader):
            water = await store.values("water_meter", meter.id, ["volume_m3"], start, END + 1, limit=50_000)
            smoke = await store.values(
                "smoke_detector", detector.id, ["smoke_obscuration_pct", "temperature_c"], END - 4 * DAY_S, END + 1
            )
            assert water
            assert smoke
            meter_series = [(ts, row["volume_m3"]) for ts, row in water]
            charts.append(
                (
                    water_chart([meter_series], END, UTC, []),
                    device_chart(smoke, [("smoke_obscuration_pct", "%/m"), ("temperature_c", "°C")], END, []),
                )
            )
        assert charts[0] == charts[1]
        water_shown = charts[0][0]
        assert water_shown.quiet_h is not None
        assert water_shown.quiet_h >= 14
        assert not math.isnan(sum(v or 0 for v in water_shown.series[0].values))
    finally:
        await sqlite.close()
        await influx.close()
