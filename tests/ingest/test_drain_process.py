"""`[ingest] telemetry_drain = "process"`: the telemetry drain runs in a child process that reads the spool file.

The spool reader shares the file with the ingester's spool; the ingester (in-process, real Mosquitto) starts the
child, serves its metrics from the files it keeps, moves the points it refused into the dead letters, and starts
another when it is killed. The child is SIGKILLed at many points of its work: its refusals are dead-lettered
once each all the same."""

from __future__ import annotations

import asyncio
import math
import os
import signal
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import msgspec
import pytest

from core.clock import SystemClock
from core.db import make_engine
from devices.reading import Reading
from devices.registry import Registry
from devices.sample import sample_street
from ingest.deadletter import DeadLetterError, DeadLetters, NewDeadLetter, create_tables
from ingest.decode import Decoder
from ingest.drainproc import DrainConfig
from ingest.errors import SpoolError
from ingest.metrics import DrainMetricFiles, IngestMetrics
from ingest.refusals import RefusalReason
from ingest.service import Ingester, IngestTuning
from ingest.settings import TelemetrySettings
from ingest.sinks.sqlite import SqliteTelemetrySink
from ingest.spool import Spool, SpoolReader
from ingest.transport import GmqttTransport, MqttOptions
from testkit.services import MosquittoProcess
from tests.ingest.test_service import publish, telemetry, until

SINK_REJECTED = RefusalReason.SINK_REJECTED.value
BASE = time.time() - 3600  # within the SQLite sink's retention


def reading(seq: int, device: str = "WM-1", value: float | None = None) -> Reading:
    return Reading(
        device_id=device,
        device_class="water_meter",
        channel="telemetry",
        ts=BASE + seq,
        seq=seq,
        fields={"volume_m3": 1.0 + seq if value is None else value},
        community_id="c1",
        microgrid_id="m1",
        building_id="b1",
        household_id="h1",
        received_at=BASE + 0.5 + seq,
    )


def test_spool_reader_reads_what_the_spool_wrote_and_moves_its_cursor(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool.db", consumers=("telemetry", "rules")) as spool:
        spool.append([reading(i) for i in range(10)])
        reader = SpoolReader(tmp_path / "spool.db")
        try:
            assert reader.position("telemetry") == 0
            got = reader.read_after(0, limit=4)
            assert [o for o, _ in got] == [1, 2, 3, 4]
            assert got[0][1] == reading(0)
            reader.commit("telemetry", 4)
            reader.commit("telemetry", 2)  # never moves back
            assert spool.position("telemetry") == 4  # the writer sees the reader's cursor
            assert spool.position("rules") == 0
            spool.append([reading(10)])
            assert [o for o, _ in reader.read_after(4)] == [5, 6, 7, 8, 9, 10, 11]
            with pytest.raises(SpoolError, match="no consumer 'nope'"):
                reader.commit("nope", 1)
        finally:
            reader.close()


def test_spool_reader_needs_the_file(tmp_path: Path) -> None:
    with pytest.raises(SpoolError, match="does not exist"):
        SpoolReader(tmp_path / "missing.db")


@pytest.fixture(scope="module")
def registry() -> Registry:
    return sample_street(1)


class Rig:
    def __init__(self, ingester: Ingester, deadletters: DeadLetters, telemetry_db: Path) -> None:
        self.ingester, self.deadletters, self.telemetry_db = ingester, deadletters, telemetry_db

    def stored(self) -> int:
        if not self.telemetry_db.exists():
            return 0
        sink = SqliteTelemetrySink(self.telemetry_db, 86_400 * 3650, clock=SystemClock())
        try:
            return asyncio.run(sink.count())
        finally:
            asyncio.run(sink.close())

    def metric(self, name: str, **labels: str) -> float:
        """The value `/metrics` shows (the ingester's own and the drain process's, added up)."""
        return self.ingester.metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
def telemetry_settings() -> TelemetrySettings:
    return TelemetrySettings(backend="sqlite")


@pytest.fixture
def drain_batch() -> int:
    return 5_000


@pytest.fixture
async def rig(
    mosquitto: MosquittoProcess,
    registry: Registry,
    tmp_path: Path,
    telemetry_settings: TelemetrySettings,
    drain_batch: int,
) -> AsyncIterator[Rig]:
    clock = SystemClock()
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    await create_tables(engine)
    deadletters = DeadLetters(engine)
    spool = Spool(tmp_path / "spool.db", consumers=("telemetry",))
    config = DrainConfig(
        spool=str(spool.path),
        data_dir=str(tmp_path),
        telemetry=telemetry_settings.model_dump(mode="json"),
        limit=drain_batch,
        retry_initial_s=0.01,
        retry_max_s=0.5,
    )
    transport = GmqttTransport(MqttOptions(port=mosquitto.port, client_id=f"drain-{tmp_path.name}"), now=clock.now)
    ingester = Ingester(
        transport=transport,
        decoder=Decoder(registry, clock),
        spool=spool,
        sink=SqliteTelemetrySink(tmp_path / "unused.db", 86_400, clock=clock),
        deadletters=deadletters,
        metrics=IngestMetrics(drain_files=DrainMetricFiles(tmp_path / "drain-metrics")),
        clock=clock,
        tuning=IngestTuning(housekeeping_s=0.05, retry_initial_s=0.01, retry_max_s=0.5),
        telemetry_drain=config,
    )
    async with ingester:
        await until(lambda: transport.connected)
        yield Rig(ingester, deadletters, tmp_path / "telemetry.db")
    spool.close()
    await engine.dispose()


async def stored_becomes(rig: Rig, n: int, deadline_s: float = 30.0) -> None:
    deadline = time.monotonic() + deadline_s
    while (got := await asyncio.to_thread(rig.stored)) < n:
        if time.monotonic() > deadline:
            raise AssertionError(f"{got} of {n} readings stored")
        await asyncio.sleep(0.02)


async def test_the_drain_process_stores_its_metrics_reach_metrics_and_it_is_restarted(
    rig: Rig, mosquitto: MosquittoProcess, registry: Registry
) -> None:
    msgs = telemetry(registry, 4, 50)
    await asyncio.to_thread(publish, mosquitto.port, msgs[:100])
    await stored_becomes(rig, 100)
    # the child's counters, served by the ingester
    await until(lambda: rig.metric("cwatch_ingest_stored_total") == 100)
    assert rig.metric("cwatch_ingest_batch_write_seconds_count", stage="sink") >= 1
    assert rig.metric("cwatch_ingest_batch_write_seconds_count", stage="spool") >= 1  # the ingester's own
    # the child observes the lag just after counting the stored points, in a file this process reads
    await until(lambda: rig.metric("cwatch_ingest_lag_seconds_count") >= 1)
    await until(lambda: rig.ingester.spool.position("telemetry") == 100)

    process = rig.ingester.drain_process
    assert process is not None
    assert process.pid is not None
    first = process.pid
    os.kill(first, signal.SIGKILL)
    await until(lambda: rig.metric("cwatch_ingest_drain_restarts_total") == 1)
    await asyncio.to_thread(publish, mosquitto.port, msgs[100:])
    await stored_becomes(rig, 200)
    assert process.pid != first
    # counters go on from where the killed process left them; its files are folded into one
    await until(lambda: rig.metric("cwatch_ingest_stored_total") == 200)
    files = sorted(p.name for p in process.metrics_files.path.iterdir())
    assert files == sorted(
        [f"counter_{process.pid}.db", f"histogram_{process.pid}.db", "counter_retired.db", "histogram_retired.db"]
    )
    assert await rig.ingester.ready() == {"broker": True, "spool": True, "sink": True}


@pytest.mark.parametrize(
    "telemetry_settings",
    [TelemetrySettings(backend="influx_v1", influx_url="http://127.0.0.1:9", influx_database="x")],
    ids=["influx-unreachable"],
)
async def test_an_outage_seen_by_the_drain_process_reaches_the_ingesters_metrics(rig: Rig) -> None:
    rig.ingester.spool.append([reading(1), reading(2)])
    await until(lambda: rig.metric("cwatch_ingest_sink_unavailable_total") >= 2)
    assert rig.ingester.spool.position("telemetry") == 0  # nothing passed: the readings wait in the spool
    assert rig.metric("cwatch_ingest_stored_total") == 0


class FlakyDeadLetters:
    """Fails its first `add_once`; records where the drain's cursor stood at each call."""

    def __init__(self, real: DeadLetters, spool: Spool) -> None:
        self.real, self.spool = real, spool
        self.cursor_at_calls: list[int] = []

    async def add_once(self, spool_id: str, rows: Sequence[tuple[int, NewDeadLetter]]) -> int:
        self.cursor_at_calls.append(self.spool.position("telemetry"))
        if len(self.cursor_at_calls) == 1:
            raise DeadLetterError("database is locked")
        return await self.real.add_once(spool_id, rows)


async def test_points_the_database_refused_wait_in_the_spool_until_their_dead_letters_are_stored(rig: Rig) -> None:
    """The child keeps the refused point in the spool with its cursor move; the ingester's first attempt to
    store its dead letter fails, the row waits, and the second stores it once."""
    flaky = FlakyDeadLetters(rig.deadletters, rig.ingester.spool)
    rig.ingester.mover.deadletters = flaky
    bad = msgspec.structs.replace(reading(2), fields={"volume_m3": math.nan})
    rig.ingester.spool.append([reading(1), bad, reading(3)])
    deadline = time.monotonic() + 30
    while (counts := await rig.deadletters.counts()) != {SINK_REJECTED: 1}:
        assert time.monotonic() < deadline, (counts, flaky.cursor_at_calls)
        await asyncio.sleep(0.02)
    assert flaky.cursor_at_calls == [3, 3]  # the cursor had passed the point: its row was safe in the spool
    # the mover deletes the row from the spool just after storing its dead letter
    await until(lambda: rig.ingester.spool.refused() == [])
    [letter] = await rig.deadletters.list()
    assert letter.topic == "cw/c1/WM-1/telemetry"
    assert b'"seq":2' in letter.payload
    assert "nan" in letter.detail
    assert rig.metric("cwatch_ingest_deadletter_errors_total") == 1
    # counted by the child, once, just after its commit: the mover may have stored the letter before that
    await until(lambda: rig.metric("cwatch_ingest_refused_total", reason=SINK_REJECTED) == 1)
    assert await asyncio.to_thread(rig.stored) == 2


def running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


@pytest.mark.slow
@pytest.mark.parametrize("drain_batch", [25])
async def test_refused_points_survive_the_drain_process_killed_at_any_point(rig: Rig) -> None:
    """1,000 readings written 25 at a time in eight rounds, every fifth refused by the database. The drain
    process is SIGKILLed each round once its cursor has moved, so the kills fall while it writes, between a
    write and its commit, or right after one. Every good reading is stored and every refused one is a dead
    letter exactly once."""
    spool = rig.ingester.spool
    bad = {seq for seq in range(1000) if seq % 5 == 0}
    batches = [
        [reading(s, value=math.nan if s in bad else None) for s in range(b * 25, b * 25 + 25)] for b in range(40)
    ]
    process = rig.ingester.drain_process
    assert process is not None
    for k in range(8):
        # five more batches each round: a drain faster than the kills (a quiet machine) still has work to be
        # killed in, and its cursor has something to move over
        at = spool.position("telemetry")
        for batch in batches[k * 5 : (k + 1) * 5]:
            spool.append(batch)
        await until(lambda at=at: spool.position("telemetry") != at, deadline_s=60)  # type: ignore[misc]
        pid = process.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        await until(lambda pid=pid: process.pid != pid and running(process.pid), deadline_s=60)  # type: ignore[misc]
    await until(lambda: spool.position("telemetry") == 1000, deadline_s=60)
    await stored_becomes(rig, 1000 - len(bad))

    await until(lambda: not spool.refused())  # all moved to the dead letters
    letters = await rig.deadletters.list(limit=10_000)
    assert sorted(int(msgspec.json.decode(d.payload)["seq"]) for d in letters) == sorted(bad)  # each once
    assert spool.refused() == []
