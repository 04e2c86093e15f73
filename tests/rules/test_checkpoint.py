"""The service's runner saves its state every `checkpoint_every_s`, not after every batch, and the spool hands it
again what it judged since (`replay_unsaved`, `RuleRunner.durable`): a kill loses no alert, an undone hand-off
neither, and a street's worth of batches costs one snapshot, not one each."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from pathlib import Path

from core.clock import ManualClock
from core.db import make_engine
from devices.reading import Reading
from ingest.consumerloop import consume_forever
from ingest.spool import Spool
from rules.alert import Alert
from rules.config import load_ruleset
from rules.errors import RuleStateRewoundError
from rules.runner import RuleRunner, open_engine
from rules.state import RuleStateStore, create_tables
from tests.rules.support import T0, M, reading, registry
from tests.rules.test_runner import RULES, FailingSink, Sink


class CountingStore(RuleStateStore):
    def __init__(self, store: RuleStateStore) -> None:
        super().__init__(store.engine)
        self.saves = 0

    async def save(self, snapshot: bytes, watermark: float | None) -> None:
        self.saves += 1
        await super().save(snapshot, watermark)


async def _runner(tmp_path: Path, sink: Sink, clock: ManualClock) -> tuple[RuleRunner, CountingStore]:
    reg = registry()
    path = tmp_path / "rules.yaml"
    path.write_text(RULES, encoding="utf-8")
    db = make_engine(f"sqlite+aiosqlite:///{tmp_path}/state.db")
    await create_tables(db)
    store = CountingStore(RuleStateStore(db))
    eng = await open_engine(store, load_ruleset(path, reg), reg, allowed_lateness_s=60)
    runner = RuleRunner(
        eng, store, clock, sink, sweep_every_s=60, rules_path=path, checkpoint_every_s=30, replay_unsaved=True
    )
    return runner, store


async def _until(what: str, done: object) -> None:
    deadline = time.monotonic() + 10
    while not (done() if callable(done) else done):
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.01)


async def _saved(runner: RuleRunner) -> None:
    if runner._saving is not None:
        await runner._saving


async def test_batches_with_alerts_save_once_per_interval_and_the_cursor_follows_the_saves(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    sink = Sink()
    runner, store = await _runner(tmp_path, sink, clock)
    reg = runner.engine.registry
    try:
        moved: list[int | None] = []
        for i in range(20):  # each batch raises a thrown object
            cam = "CAM1" if i % 2 else "CAM2"
            await runner.on_readings(
                [reading(reg, cam, "event", T0 + i * 3600, event="thrown_object", confidence=0.95)]
            )
            moved.append(runner.durable(10 * (i + 1)))
            clock.advance(1)
        await _saved(runner)
        assert len(sink.alerts) == 20
        assert store.saves == 1  # the first batch's; the next is due 30 s after it
        # the save covered the first batch only: the cursor may move past it, not past the others
        await runner.on_readings([reading(reg, "CAM1", "status", T0 + 21 * 3600, state="heartbeat")])
        moved.append(runner.durable(210))
        assert max(m for m in moved if m is not None) == 10
        clock.advance(30)
        await runner.on_readings([reading(reg, "CAM1", "status", T0 + 22 * 3600, state="heartbeat")])
        await _saved(runner)
        assert store.saves == 2
        assert runner.durable(220) == 220  # both batches since are in the second save
        assert runner.judged_through == 220
    finally:
        await store.engine.dispose()


class Feed:
    """The spool's "rules" consumer loop, as the ingester runs it, with the runner's `durable`."""

    def __init__(self, spool: Spool, runner: RuleRunner) -> None:
        self.spool = spool
        self.appended = asyncio.Event()
        self.failures: list[str] = []
        self.task = asyncio.create_task(self._run(runner))

    def push(self, *readings: Reading) -> None:
        self.spool.append(readings)
        self.appended.set()

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task

    async def _run(self, runner: RuleRunner) -> None:
        async def on_failure(name: str, exc: Exception, size: int, n: int) -> None:
            self.failures.append(type(exc).__name__)

        await consume_forever(
            self.spool,
            "rules",
            runner.on_readings,
            appended=self.appended,
            limit=1,
            depth=1,
            on_failure=on_failure,
            durable=runner.durable,
        )


async def test_a_kill_after_an_unsaved_batch_judges_it_again_at_restart(tmp_path: Path) -> None:
    """The door opens in a batch judged after the last save; the process dies (no save at exit). Restarted from
    the saved state and the spool's cursor, the runner is handed the batch again and the door is held open
    5 minutes later. A cursor that followed the batches instead of the saves would lose it."""
    clock = ManualClock(T0)
    sink = Sink()
    runner, store = await _runner(tmp_path, sink, clock)
    reg = runner.engine.registry
    spool = Spool(tmp_path / "spool.db", consumers=("telemetry", "rules"))
    try:
        feed = Feed(spool, runner)
        feed.push(reading(reg, "CAM1", "status", T0, state="heartbeat"))
        await _until("first batch judged", lambda: runner.judged_through == 1)
        await _saved(runner)
        clock.advance(1)
        feed.push(reading(reg, "AC1", "event", T0 + 1, event="held_open"))
        await _until("door judged", lambda: runner.judged_through == 2)
        await feed.stop()  # kill -9: nothing more is saved
        assert store.saves == 1
        assert spool.position("rules") == 1

        again = await open_engine(store, runner.engine.ruleset, reg, allowed_lateness_s=60)
        sink2 = Sink()
        restarted = RuleRunner(again, store, clock, sink2, checkpoint_every_s=30, replay_unsaved=True)
        feed = Feed(spool, restarted)
        feed.appended.set()
        await _until("door judged again", lambda: restarted.judged_through == 2)
        await feed.stop()
        clock.set(T0 + 7 * M)
        [held] = await restarted.sweep()
        assert (held.rule_id, held.ts) == ("door_held_open", T0 + 1 + 5 * M)
    finally:
        spool.close()
        await store.engine.dispose()


async def test_an_undone_sweep_has_the_spool_hand_the_unsaved_batches_again(tmp_path: Path) -> None:
    """A sweep whose hand-off fails takes the engine back to its last save, before the door opened: the next
    batch is refused (`RuleStateRewoundError`), the loop reads again from the cursor, and the door is timed."""
    clock = ManualClock(T0)
    sink = FailingSink(0)
    runner, store = await _runner(tmp_path, sink, clock)
    reg = runner.engine.registry
    spool = Spool(tmp_path / "spool.db", consumers=("telemetry", "rules"))
    try:
        feed = Feed(spool, runner)
        feed.push(reading(reg, "CAM1", "status", T0, state="heartbeat"))
        await _until("first batch judged", lambda: runner.judged_through == 1)
        await _saved(runner)
        feed.push(reading(reg, "AC1", "event", T0 + 1, event="held_open"))
        await _until("door judged", lambda: runner.judged_through == 2)
        clock.set(T0 + 7 * M)
        sink.down = 1
        with contextlib.suppress(ConnectionError):
            await runner.sweep()  # the door's alert could not be handed on: undone, back to the first save
        assert runner.judged_through is None
        feed.push(reading(reg, "CAM1", "status", T0 + 7 * M, state="heartbeat"))
        await _until("batches handed again", lambda: runner.judged_through == 3)
        await feed.stop()
        assert feed.failures == ["RuleStateRewoundError"]
        alerts: Sequence[Alert] = sink.alerts + await runner.sweep()
        assert [(a.rule_id, a.ts) for a in alerts] == [("door_held_open", T0 + 1 + 5 * M)]
    finally:
        spool.close()
        await store.engine.dispose()


async def test_a_cancelled_batch_goes_back_to_the_save_only_when_the_runner_is_used_again(tmp_path: Path) -> None:
    """Going back rebuilds the engine (half a minute at district size): a batch cancelled because the service
    stops must not wait for it. The next batch goes back first, and is refused so the spool hands it again."""
    clock = ManualClock(T0)
    runner, store = await _runner(tmp_path, Sink(), clock)
    reg = runner.engine.registry
    loads: list[bytes] = []
    original = runner.engine.load_snapshot

    def counted(snapshot: bytes) -> None:
        loads.append(snapshot)
        original(snapshot)

    runner.engine.load_snapshot = counted  # type: ignore[method-assign]

    class Stuck(Sink):
        async def __call__(self, alerts: list[Alert]) -> None:
            await asyncio.Event().wait()

    try:
        await runner.on_readings([reading(reg, "CAM1", "status", T0, state="heartbeat")])
        await _saved(runner)
        runner.sink = Stuck()
        batch = asyncio.create_task(
            runner.on_readings([reading(reg, "CAM1", "event", T0 + 1, event="thrown_object", confidence=0.95)])
        )
        await _until("batch handing on", lambda: runner._lock.locked())
        batch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await batch
        assert loads == []
        runner.sink = Sink()
        with contextlib.suppress(RuleStateRewoundError):
            await runner.on_readings([reading(reg, "CAM1", "status", T0 + 2, state="heartbeat")])
        assert len(loads) == 1
    finally:
        await store.engine.dispose()
