"""The embedded SQLite sink: stores readings, replays overwrite, old rows are pruned after the retention."""

from __future__ import annotations

from pathlib import Path

from msgspec.structs import replace

from core.clock import ManualClock
from devices.model import DeviceClass
from devices.payloads import Channel
from devices.reading import Reading
from ingest.sinks import SqliteTelemetrySink, TelemetrySink

T0 = 1_772_330_000.0
R = Reading(
    device_id="CAM-0001",
    device_class=DeviceClass.AI_CAMERA,
    channel=Channel.EVENT,
    ts=T0,
    seq=1,
    fields={"event": "thrown_object", "confidence": 0.91, "estimated_floor": 12},
    community_id="c1",
    microgrid_id="m1",
    building_id="b1",
    household_id=None,
    received_at=T0 + 0.5,
    extra={"bbox": [0.42, 0.18, 0.05, 0.07]},
)


async def test_round_trip_and_idempotent_replay(tmp_path: Path) -> None:
    sink = SqliteTelemetrySink(tmp_path / "t" / "telemetry.db", retention_s=86_400, clock=ManualClock(T0))
    assert isinstance(sink, TelemetrySink)
    assert await sink.ping()
    batch = [replace(R, seq=i, ts=T0 + i) for i in range(100)]
    assert await sink.write(batch) == []
    assert await sink.write(batch[:10]) == []  # replay
    assert await sink.count() == 100
    back = await sink.readings("CAM-0001", start=T0, end=T0 + 2.5)
    assert back == batch[:3]
    await sink.close()
    reopened = SqliteTelemetrySink(tmp_path / "t" / "telemetry.db", retention_s=86_400, clock=ManualClock(T0))
    assert await reopened.count("CAM-0001") == 100
    await reopened.close()


async def test_retention_prunes_old_rows(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    sink = SqliteTelemetrySink(tmp_path / "telemetry.db", retention_s=3600, clock=clock, prune_every_s=60)
    assert await sink.write([replace(R, ts=T0 - 7200), replace(R, ts=T0 - 1800), replace(R, ts=T0)]) == []
    assert await sink.count() == 2  # the write itself pruned the reading older than an hour
    clock.advance(1800)
    assert await sink.write([replace(R, ts=T0 + 1800)]) == []
    assert await sink.count() == 3  # T0-1800 is now exactly one retention old: kept (older than, not as old)
    clock.advance(1)
    assert await sink.prune() == 1
    assert [r.ts for r in await sink.readings("CAM-0001")] == [T0, T0 + 1800]
    await sink.close()
