"""`[ingest] telemetry_drain = "process"`: the telemetry drain runs in a child process that reads the spool file.

The spool reader shares the file with the ingester's spool; the ingester (in-process, real Mosquitto) starts the
child, keeps the metrics and dead letters from its reports, and starts another when it is killed."""

from __future__ import annotations

import asyncio
import math
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from cwatch.clock import SystemClock
from cwatch.db import make_engine
from cwatch.settings import TelemetrySettings
from devices.reading import Reading
from devices.registry import Registry
from devices.sample import sample_street
from ingest.deadletter import DeadLetterError, DeadLetters, create_tables
from ingest.decode import Decoder
from ingest.drainer import REFUSED_BYTES_PER_LINE, DrainConfig, parts
from ingest.drainproc import DrainProcess
from ingest.errors import SpoolError
from ingest.metrics import IngestMetrics
from ingest.service import SINK_REJECTED, Ingester, IngestTuning
from ingest.sinks.sqlite import SqliteTelemetrySink
from ingest.spool import Spool, SpoolReader
from ingest.transport import GmqttTransport, MqttOptions
from tests.ingest.test_service import publish, telemetry, until
from tests.support.services import MosquittoProcess


def reading(seq: int) -> Reading:
    return Reading(
        device_id="WM-1",
        device_class="water_meter",
        channel="telemetry",
        ts=1_700_000_000.0 + seq,
        seq=seq,
        fields={"volume_m3": 1.0 + seq},
        community_id="c1",
        microgrid_id="m1",
        building_id="b1",
        household_id="h1",
        received_at=1_700_000_000.5 + seq,
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


@pytest.fixture
async def rig(mosquitto: MosquittoProcess, registry: Registry, tmp_path: Path) -> AsyncIterator[Rig]:
    clock = SystemClock()
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    await create_tables(engine)
    deadletters = DeadLetters(engine)
    spool = Spool(tmp_path / "spool.db", consumers=("telemetry",))
    config = DrainConfig(
        spool=str(spool.path),
        data_dir=str(tmp_path),
        telemetry=TelemetrySettings(backend="sqlite").model_dump(mode="json"),
        retry_initial_s=0.01,
    )
    transport = GmqttTransport(MqttOptions(port=mosquitto.port, client_id=f"drain-{tmp_path.name}"), now=clock.now)
    ingester = Ingester(
        transport=transport,
        decoder=Decoder(registry, clock),
        spool=spool,
        sink=SqliteTelemetrySink(tmp_path / "unused.db", 86_400, clock=clock),
        deadletters=deadletters,
        metrics=IngestMetrics(),
        clock=clock,
        tuning=IngestTuning(housekeeping_s=0.05),
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


async def test_the_drain_process_stores_reports_and_is_restarted(
    rig: Rig, mosquitto: MosquittoProcess, registry: Registry
) -> None:
    msgs = telemetry(registry, 4, 50)
    await asyncio.to_thread(publish, mosquitto.port, msgs[:100])
    await stored_becomes(rig, 100)
    m = rig.ingester.metrics
    await until(lambda: m.stored._value.get() == 100)  # the parent counts what the child reports
    assert m.batch_write_seconds.labels("sink")._sum.get() > 0
    # the child moves the cursor in the shared file after it reported the batch
    await until(lambda: rig.ingester.spool.position("telemetry") == 100)

    process = rig.ingester.drain_process
    assert process is not None
    assert process.pid is not None
    first = process.pid
    os.kill(first, signal.SIGKILL)
    await until(lambda: m.drain_restarts._value.get() == 1)
    await asyncio.to_thread(publish, mosquitto.port, msgs[100:])
    await stored_becomes(rig, 200)
    assert process.pid != first
    assert await rig.ingester.ready() == {"broker": True, "spool": True, "sink": True}


async def test_refusals_and_outages_reported_by_the_child_reach_dead_letters_and_metrics(rig: Rig) -> None:
    ingester = rig.ingester
    await ingester._drain_refused([["cw/c1/WM-1/telemetry", '{"ts":1.0}', "field type conflict", 12.5]])
    assert await rig.deadletters.counts() == {SINK_REJECTED: 1}
    assert ingester.metrics.refused.labels(SINK_REJECTED)._value.get() == 1
    ingester._drain_report({"unavailable": "connection refused", "retry_in": 0.5})
    assert ingester.metrics.sink_errors._value.get() == 1
    ingester._drain_report({"failed": "ValueError: boom", "size": 10, "retry_in": 0.5})
    assert ingester.metrics.consumer_errors.labels("telemetry")._value.get() == 1


async def test_long_report_lines_neither_end_the_supervisor_nor_hide_the_next_reports(tmp_path: Path) -> None:
    """A 70 KB report (past asyncio's default 64 KiB line limit) is read; a 17 MB one is dropped with an error;
    the reports after both still arrive. A stand-in for the child prints them after reading its config."""
    fake = tmp_path / "fake-python"
    fake.write_text(
        "#!/bin/sh\n"
        "read config\n"
        'printf \'{"pad": "%s"}\\n\' "$(head -c 70000 /dev/zero | tr \'\\0\' x)"\n'
        "head -c 17000000 /dev/zero | tr '\\0' x; echo\n"
        'echo \'{"stored": 3, "seconds": 0.1, "received_at": 1.0}\'\n'
    )
    fake.chmod(0o755)
    reports: list[dict[str, object]] = []
    config = DrainConfig(spool=str(tmp_path / "spool.db"), data_dir=str(tmp_path), telemetry={})
    proc = DrainProcess(config, on_report=reports.append, on_refused=_never, python=str(fake))
    rc = await asyncio.wait_for(proc._run_once(asyncio.Event()), timeout=60)
    assert rc == 0
    assert [len(str(r.get("pad", ""))) for r in reports] == [70000, 0]
    assert reports[1]["stored"] == 3


class FlakyDeadLetters:
    """Fails its first `add_many`; records where the drain's cursor stood at each call."""

    def __init__(self, real: DeadLetters, spool: Spool) -> None:
        self.real, self.spool = real, spool
        self.cursor_at_calls: list[int] = []

    async def add_many(self, rows: Any) -> None:
        self.cursor_at_calls.append(self.spool.position("telemetry"))
        if len(self.cursor_at_calls) == 1:
            raise DeadLetterError("database is locked")
        await self.real.add_many(rows)


async def test_the_child_moves_past_refused_points_only_once_their_dead_letters_are_stored(rig: Rig) -> None:
    """The child asks the ingester to store the dead letters of the points the database refused and waits for
    the answer: while they cannot be stored the batch is retried and the cursor stays before it (the spool holds
    their only copy)."""
    flaky = FlakyDeadLetters(rig.deadletters, rig.ingester.spool)
    rig.ingester.deadletters = flaky
    bad = msgspec.structs.replace(reading(2), fields={"volume_m3": math.nan})
    rig.ingester.spool.append([reading(1), bad, reading(3)])  # the child polls the spool every second
    deadline = time.monotonic() + 30
    while (counts := await rig.deadletters.counts()) != {SINK_REJECTED: 1}:
        assert time.monotonic() < deadline, (counts, flaky.cursor_at_calls)
        await asyncio.sleep(0.02)
    assert flaky.cursor_at_calls == [0, 0]  # not moved after the first, failed store
    await until(lambda: rig.ingester.spool.position("telemetry") == 3)
    [letter] = await rig.deadletters.list()
    assert letter.topic == "cw/c1/WM-1/telemetry"
    assert b'"seq":2' in letter.payload
    assert "nan" in letter.detail
    m = rig.ingester.metrics
    assert m.deadletter_errors._value.get() == 1
    assert m.refused.labels(SINK_REJECTED)._value.get() == 1  # counted once, when kept
    assert m.consumer_errors.labels("telemetry")._value.get() >= 1  # the child reported the retried batch
    assert await asyncio.to_thread(rig.stored) == 2


async def test_the_supervisor_answers_each_question_once_its_parts_are_stored_together(tmp_path: Path) -> None:
    """`ok K` when the dead letters are stored, `no K` when storing them raised; a question in two parts is
    stored in one call. A stand-in child echoes the answers it reads back as reports."""
    fake = tmp_path / "fake-python"
    fake.write_text(
        "#!/bin/sh\n"
        "read config\n"
        'echo \'{"refused": [["t", "{}", "r", 1.0]], "ask": 7, "part": 0, "parts": 2}\'\n'
        'echo \'{"refused": [["u", "{}", "r", 2.0]], "ask": 7, "part": 1, "parts": 2}\'\n'
        "read answer\n"
        'echo "{\\"answer\\": \\"$answer\\"}"\n'
        'echo \'{"refused": [["t", "{}", "r", 1.0]], "ask": 8, "part": 0, "parts": 1}\'\n'
        "read answer\n"
        'echo "{\\"answer\\": \\"$answer\\"}"\n'
        # question 9 loses its middle part (a line over the reader's limit): `no`, nothing stored
        'echo \'{"refused": [["a", "{}", "r", 1.0]], "ask": 9, "part": 0, "parts": 3}\'\n'
        "head -c 17000000 /dev/zero | tr '\\0' x; echo\n"
        'echo \'{"refused": [["c", "{}", "r", 1.0]], "ask": 9, "part": 2, "parts": 3}\'\n'
        "read answer\n"
        'echo "{\\"answer\\": \\"$answer\\"}"\n'
    )
    fake.chmod(0o755)
    reports: list[dict[str, object]] = []
    stored: list[object] = []

    async def store(rows: list[list[Any]]) -> None:
        if rows[0][0] == "t" and len(rows) == 1:
            raise DeadLetterError("disk full")
        stored.append(rows)

    config = DrainConfig(spool=str(tmp_path / "spool.db"), data_dir=str(tmp_path), telemetry={})
    proc = DrainProcess(config, on_report=reports.append, on_refused=store, python=str(fake))
    assert await asyncio.wait_for(proc._run_once(asyncio.Event()), timeout=60) == 0
    assert [r["answer"] for r in reports if "answer" in r] == ["ok 7", "no 8", "no 9"]
    assert stored == [[["t", "{}", "r", 1.0], ["u", "{}", "r", 2.0]]]


def test_refused_rows_go_in_parts_bounded_in_rows_and_bytes() -> None:
    small = [["cw/c/d/telemetry", "{}", "r", 1.0]] * 250
    assert [len(p) for p in parts(small)] == [100, 100, 50]
    big = [["cw/c/d/telemetry", "x" * (1024 * 1024), "r", 1.0]] * 9  # 1 MiB payloads
    assert [len(p) for p in parts(big)] == [3, 3, 3]
    assert all(sum(len(r[1]) for r in p) <= REFUSED_BYTES_PER_LINE for p in parts(big))
    assert parts([]) == []


async def _never(rows: list[list[Any]]) -> None:
    raise AssertionError(f"no refusal expected: {rows}")
