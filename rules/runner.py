"""`RuleRunner`: drives an `Engine` in the service. Readings come from the ingester's "rules" spool consumer;
a loop on the clock runs the time-driven checks, saves the state and picks up edits of the rules file.

Order per batch: judge, hand the alerts to the sink, then save the snapshot (see `rules.state` for why).

In the service (`replay_unsaved`), the spool hands the runner again whatever it judged after the state it last
saved: its cursor moves only as far as `durable` says. The state is then saved every `checkpoint_every_s`, not
after every batch (at district size a snapshot is tens of MB), and written while the next batches are judged;
a restart or an undone hand-off judges those readings again from the saved state.

With a live engine (`live_slack_s`), the loop also wakes when the next device timer may fire by the clock
(`Engine.next_live_at`) and fires it (`tick`): a smoke alarm's wait, a door held open, a device gone silent
reach the sink when they fall due, not a sweep and the allowed lateness later. A tick that fires nothing costs
a heap look-up and saves nothing."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from core.clock import Clock
from devices.reading import Reading
from devices.registry import Registry
from rules.alert import Alert
from rules.config import RuleSet, load_ruleset
from rules.engine import Engine, EngineState
from rules.errors import RuleConfigError, RuleStateError, RuleStateRewoundError
from rules.state import RuleStateStore

log = logging.getLogger(__name__)

Sink = Callable[[list[Alert]], Awaitable[None]]

_HELD_POLL_S = 1.0
"""How often the loop looks again while live progress is held back (`_live_horizon`) or after a failed tick."""


async def open_engine(store: RuleStateStore, ruleset: RuleSet, registry: Registry, **engine_kw: Any) -> Engine:
    """An engine with the saved state when there is one (after a restart), else a fresh one."""
    saved = await store.load()
    state = EngineState.from_bytes(saved[0]) if saved is not None else None
    return Engine(ruleset, registry, state=state, **engine_kw)


def absence_rule_ids(engine: Engine) -> frozenset[str]:
    """Rules whose alerts wait for a person's answer (absence and learned-baseline kinds)."""
    return frozenset(r.id for r in engine.ruleset.rules if r.kind in ("absence", "baseline"))


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class RuleRunner:
    """Feeds readings to the engine, sweeps every `sweep_every_s` of clock time, ticks when a live timer falls
    due, checkpoints, hot-reloads.

    `checkpoint_every_s` (clock time) limits how often a batch without alerts is saved; 0 saves after every
    batch, which is what makes "no missed alert after a restart" hold for states begun just before it. A tick
    does not save: what it fired is still due in the saved state, so after a restart it fires again (the
    alerts service folds the repeat into the same ticket), and the next batch or sweep saves it.

    With `replay_unsaved` (the runner is the spool's `CheckpointingConsumer`), batches and sweeps save only
    every `checkpoint_every_s`, whatever they raised, and the write runs beside the judging (`_start_save`);
    the spool's cursor follows the saves (`durable`), so after a restart the readings judged since the last
    save are judged again and raise their alerts again (folded by dedup key). An answer to an absence alert is
    saved before `answer_absence` returns: it is in no spool."""

    def __init__(
        self,
        engine: Engine,
        store: RuleStateStore,
        clock: Clock,
        sink: Sink,
        *,
        sweep_every_s: float = 60,
        rules_path: Path | None = None,
        checkpoint_every_s: float = 0.0,
        backlog: Callable[[], int] | None = None,
        connected: Callable[[], bool] | None = None,
        resume_s: float = 30.0,
        on_reload: Callable[[Path, str, int], None] | None = None,
        on_sweep: Callable[[float, int], None] | None = None,
        replay_unsaved: bool = False,
    ) -> None:
        self.engine = engine
        self.store = store
        self.clock = clock
        self.sink = sink
        self.sweep_every_s = sweep_every_s
        self.rules_path = rules_path
        self.checkpoint_every_s = checkpoint_every_s
        #: readings still queued for this runner (the spool's "rules" consumer depth); see `sweep`
        self.backlog = backlog
        #: whether the broker connection readings come in on is up; see `_live_horizon`
        self.connected = connected
        self.resume_s = resume_s
        self.last_reload_error: RuleConfigError | None = None
        self.reloads = 0
        #: told (path, sha-256 of the new content, number of rules) after each reload that took (the audit log)
        self.on_reload = on_reload
        #: told (seconds, alerts) after each sweep that succeeded: its wall time with hand-off and save (metrics)
        self.on_sweep = on_sweep
        self._digest = _digest(rules_path) if rules_path is not None else None
        self._lock = asyncio.Lock()
        self._last_save = float("-inf")
        # the state the store holds (or, before the first save, the one the engine started from): what the engine
        # goes back to when a batch's alerts could not be handed on or its state not saved
        self._saved = engine.snapshot()
        self.last_sweep_at: float | None = None  # clock time of the last sweep of `run` that succeeded
        self.failed_sweeps = 0
        self.failed_ticks = 0
        self.failed_readings = 0  # readings the engine failed on (a bug), passed over
        self._wake = asyncio.Event()  # set by a batch that armed a timer due before the loop's next wake-up
        self._wake_at = float("inf")
        self._held = float("-inf")  # the live horizon reached while the connection was last up and settled
        self._up = False  # whether the connection was up when last looked at
        self._resumed_at = float("-inf")  # when it was first seen up again
        self.replay_unsaved = replay_unsaved
        self.failed_saves = 0  # background saves that failed (`replay_unsaved`); the next one tries again
        #: the spool offset of the newest batch judged (`durable`), None before the first or after an undo
        self.judged_through: int | None = None
        self._judged = 0  # batches judged, numbered from the state `_saved` holds (`_covered` of them)
        self._covered = 0
        self._offsets: deque[tuple[int, int]] = deque()  # (batch number, spool offset) not known saved yet
        self._generation = 0  # bumped by an undo: a write begun before it no longer says what is covered
        self._rewound = False  # an undo outside a batch: the next batch must make the spool hand them again
        self._stale = False  # the engine is ahead of `_saved` after a failure, not gone back yet (`_restore`)
        self._saving: asyncio.Task[bool] | None = None

    async def on_readings(self, readings: Sequence[Reading]) -> None:
        """Judge a batch; returns once its alerts were handed on and the state saved. If either fails, the
        engine goes back to the last saved state and the error propagates: the spool hands the batch again,
        and judged again it raises the same alerts (the alerts service folds repeats by dedup key)."""
        async with self._lock:
            self._restore()
            if self._rewound:  # the engine went back to its last save: what came after it must come again
                self._rewound = False
                raise RuleStateRewoundError("rule state went back to its last save; the spool hands the rest again")
            try:
                async with self._undone_on_failure():
                    alerts = self._judge(readings)
                    alerts += self.engine.advance_live(self._live_horizon())
                    if alerts:
                        await self.sink(alerts)
                    self._judged += 1
                    await self._checkpoint(force=bool(alerts) and not self.replay_unsaved)
            except BaseException:
                self._rewound = False  # this batch fails: the spool hands it and what came after the save again
                raise
        nxt = self.engine.next_live_at()
        if nxt is not None and nxt < self._wake_at:
            self._wake.set()

    def _judge(self, readings: Sequence[Reading]) -> list[Alert]:
        """`Engine.process` of each reading. Judging does no I/O, so an exception is a bug that the same
        reading would hit at every retry: the reading is logged, counted and passed over, or one bad message
        would stop every rule for good (the spool would hand its batch again forever)."""
        alerts: list[Alert] = []
        for r in readings:
            try:
                alerts.extend(self.engine.process(r))
            except Exception:
                self.failed_readings += 1
                log.exception("rule engine failed on a reading of %s at %s; passed over", r.device_id, r.ts)
        return alerts

    async def sweep(self) -> list[Alert]:
        """One round of the loop: hot reload, time-driven checks up to the clock minus the allowed lateness,
        hand-off, save. Returns the alerts it produced. A failed hand-off or save undoes the round, so the next
        one raises those alerts again."""
        async with self._lock:
            self._restore()
            self.maybe_reload()
            began = time.perf_counter()
            async with self._undone_on_failure():
                self.engine.start_at(self.clock.now())
                limit = self._sweep_limit()
                alerts = self.engine.advance(limit) if limit > float("-inf") else []
                alerts += self.engine.advance_live(self._live_horizon())
                if alerts:
                    await self.sink(alerts)
                await self._checkpoint(force=not self.replay_unsaved)
            if self.on_sweep is not None:
                self.on_sweep(time.perf_counter() - began, len(alerts))
            return alerts

    @contextlib.asynccontextmanager
    async def _undone_on_failure(self) -> AsyncIterator[None]:
        """Judging, hand-off and save succeed together or the engine returns to the last saved state. With
        `checkpoint_every_s` > 0 that state may be older than the batches already taken from the spool: what
        they changed without raising anything is lost, as in a restart."""
        try:
            yield
        except BaseException:
            if self.replay_unsaved:  # the batches judged since the save are to be judged again
                self._stale = True  # gone back to at the next use (`_restore`)
                self._judged = self._covered
                self._offsets.clear()
                self.judged_through = None
                self._generation += 1
                self._rewound = True
            else:
                try:
                    self.engine.load_snapshot(self._saved)
                except Exception:  # the engine is left as it was; the original error is the one to report
                    log.exception("could not go back to the last saved rule state")
            self._last_save = float("-inf")  # save at the next chance: the store is behind the engine again
            raise

    def _restore(self) -> None:
        """With `replay_unsaved`, a failure marks the engine stale and the next use goes back to the last save:
        at district size that rebuilds the engine for tens of seconds, which a failure that is the service
        stopping (a cancelled batch) must not wait for. Raises RuleStateError (still stale) if it cannot."""
        if self._stale:
            self.engine.load_snapshot(self._saved)
            self._stale = False

    def _sweep_limit(self) -> float:
        """How far in event time a sweep may judge silences. By the clock when every reading has been judged;
        while readings are still queued for us (a backlog after an outage or a restart), only as far as the
        readings already judged, or every device whose readings wait in the queue would look silent."""
        limit = self.clock.now() - self.engine.allowed_lateness_s
        if self.backlog is not None and self.backlog() > 0:
            judged = self.engine.watermark
            return min(limit, judged) if judged is not None else float("-inf")
        return limit

    async def tick(self) -> list[Alert]:
        """Fire the live timers that fell due by the clock (`Engine.advance_live`) and hand their alerts on.
        A failed hand-off undoes the tick (the timers fire again at the next one)."""
        async with self._lock, self._undone_on_failure():
            self._restore()
            self.engine.start_at(self.clock.now())
            alerts = self.engine.advance_live(self._live_horizon())
            if alerts:
                await self.sink(alerts)
            return alerts

    def _live_horizon(self) -> float:
        """Up to which service-clock moment every reading received has been judged: the clock when nothing is
        queued for us; while readings are (a backlog, or the batch being judged), the newest `received_at`
        judged (the spool hands readings on in the order they came), or a device whose readings wait would
        look silent. What was received but is not in the spool yet is what the engine's slack is for.

        While the broker connection is down, and for `resume_s` after it is seen up again (the broker first
        delivers what it kept for us meanwhile, and at a start what came while the service was stopped), the
        horizon stays where it was: the devices whose messages the broker still holds must not look silent. A
        drop too short to be seen between two looks (each batch, tick and sweep looks) leaves little queued."""
        now = self.clock.now()
        horizon = now
        if self.backlog is not None and self.backlog() > 0:
            judged = self.engine.received_upto
            horizon = min(now, judged) if judged is not None else float("-inf")
        if self.connected is not None:
            if not self.connected():
                self._up = False
                return min(horizon, self._held)
            if not self._up:
                self._up = True
                self._resumed_at = now
            if now < self._resumed_at + self.resume_s:
                return min(horizon, self._held)
        self._held = horizon
        return horizon

    async def run(self) -> None:
        """Sweep every `sweep_every_s` and tick whenever a live timer falls due, forever on the clock; cancel
        the task to stop (the state of the last sweep is saved). A failed sweep or tick (the ticket or state
        database unreachable) is undone, logged and tried again at the next one: it must not end the loop, and
        with it the service."""
        try:
            await self._loop()
        finally:  # a write in flight lands before the runner stops (the store's connections close after it)
            saving = self._saving
            if saving is not None and not saving.done():
                with contextlib.suppress(Exception):
                    await asyncio.shield(saving)

    async def _loop(self) -> None:
        next_sweep = self.clock.now() + self.sweep_every_s
        retry_at = float("-inf")  # after a failed tick: not before then
        while True:
            now = self.clock.now()
            horizon = self._live_horizon()
            wake = next_sweep
            if self.connected is not None and (not self._up or now < self._resumed_at + self.resume_s):
                wake = min(wake, now + _HELD_POLL_S)  # the connection is down or settling: look again soon
            due = self.engine.next_live_at()
            if due is not None and due < wake:
                if due <= horizon:
                    wake = max(now, retry_at)
                elif due > now:
                    wake = due
                else:  # held back by readings still queued: their batches tick as they are judged
                    wake = min(wake, now + _HELD_POLL_S)
            await self._sleep_until(wake)
            if self.clock.now() >= next_sweep:
                next_sweep = self.clock.now() + self.sweep_every_s
                try:
                    await self.sweep()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    self.failed_sweeps += 1
                    log.exception("rule sweep failed; undone, the next sweep tries again")
                else:
                    self.last_sweep_at = self.clock.now()
                continue
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.failed_ticks += 1
                retry_at = self.clock.now() + _HELD_POLL_S
                log.exception("rule tick failed; undone, tried again in %g s", _HELD_POLL_S)

    async def _sleep_until(self, wake: float) -> None:
        """Sleep on the clock until `wake`, or until a batch arms a timer due earlier (`_wake`)."""
        self._wake_at = wake
        self._wake.clear()
        delay = wake - self.clock.now()
        if delay <= 0:
            return
        sleeper = asyncio.ensure_future(self.clock.sleep(delay))
        woken = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, woken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            woken.cancel()
            self._wake_at = float("inf")

    def healthy(self) -> bool:
        """Watchdog for /readyz: False once no sweep has succeeded for three sweep intervals."""
        if self.last_sweep_at is None:
            return self.failed_sweeps < 3
        return self.clock.now() - self.last_sweep_at <= 3 * self.sweep_every_s

    def maybe_reload(self) -> bool:
        """Reload the rules file if its content changed. A bad file is logged and kept out: the engine goes on
        with the rules it has, and the same bad content is not reported again."""
        if self.rules_path is None:
            return False
        digest = _digest(self.rules_path)
        if digest is None or digest == self._digest:
            return False
        self._digest = digest
        try:
            ruleset = load_ruleset(self.rules_path, self.engine.registry)
        except RuleConfigError as e:
            self.last_reload_error = e
            log.error("rules file not reloaded: %s", e)
            return False
        self.engine.reload(ruleset)
        self.last_reload_error = None
        self.reloads += 1
        log.info("rules reloaded from %s: %d rules", self.rules_path, len(ruleset.rules))
        if self.on_reload is not None:
            self.on_reload(self.rules_path, digest, len(ruleset.rules))
        return True

    def set_registry(self, registry: Registry) -> None:
        self.engine.set_registry(registry)

    async def answer_absence(self, household_id: str, until: float | None, at: float | None = None) -> list[Alert]:
        """A person answered an absence alert: "visited" (`until` None) or "away confirmed" until `until`.
        The engine clears the open absence and restarts its clock (at `at`, event time of the answer; default:
        the watermark now); the clears go to the sink like any alert."""
        async with self._lock, self._undone_on_failure():
            self._restore()
            alerts = self.engine.acknowledge_absence(household_id, until, at=at)
            if alerts:
                await self.sink(alerts)
            if not self.replay_unsaved:
                await self._checkpoint(force=True)
                return alerts
            saving = self._start_save()
        if not await saving:  # outside the lock: the next batches are judged meanwhile
            raise RuleStateError("the answer reached the rules but their state could not be saved")
        return alerts

    def absence_rule_ids(self) -> frozenset[str]:
        return absence_rule_ids(self.engine)

    async def checkpoint(self) -> None:
        """Save the state now, and return once it is written."""
        async with self._lock:
            if not self.replay_unsaved:
                await self._checkpoint(force=True)
                return
            self._restore()
            saving = self._start_save()
        if not await saving:
            raise RuleStateError("rule state not saved")

    async def _checkpoint(self, *, force: bool) -> None:
        now = self.clock.now()
        if not force and now - self._last_save < self.checkpoint_every_s:
            return
        if self.replay_unsaved:
            if self._saving is None or self._saving.done():
                self._start_save()  # one write at a time; a batch while one runs waits for the next interval
            return
        snapshot = self.engine.snapshot()
        await self.store.save(snapshot, self.engine.watermark)
        self._saved = snapshot
        self._last_save = now

    def _start_save(self) -> asyncio.Task[bool]:
        """Take the snapshot now (under the lock: a state between batches) and write it beside the judging. Once
        written, it is what an undo goes back to and the spool's cursor may move past what it holds (`durable`).
        A failed write is logged and counted; the next interval tries again (the cursor waits meanwhile)."""
        snapshot = self.engine.snapshot()
        self._last_save = self.clock.now()
        previous = self._saving
        task = asyncio.ensure_future(
            self._write(previous, snapshot, self.engine.watermark, self._judged, self._generation)
        )
        self._saving = task
        return task

    async def _write(
        self,
        previous: asyncio.Task[bool] | None,
        snapshot: bytes,
        watermark: float | None,
        covers: int,
        generation: int,
    ) -> bool:
        """Whether the snapshot was written."""
        if previous is not None:  # writes land in the order they were taken
            await asyncio.wait({previous})
        try:
            await self.store.save(snapshot, watermark)
        except Exception:
            self.failed_saves += 1
            log.exception("rule state not saved; the spool keeps what came since the last save")
            return False
        if generation == self._generation:
            self._saved = snapshot
            self._covered = max(self._covered, covers)
        return True

    def durable(self, last: int) -> int | None:
        """The spool tells the offset the batch just judged (`on_readings`) ended at; returns the offset up to
        which every reading's effect is in the saved state (the cursor may move there), None if none new."""
        self.judged_through = last
        self._offsets.append((self._judged, last))
        upto = None
        while self._offsets and self._offsets[0][0] <= self._covered:
            upto = self._offsets.popleft()[1]
        return upto
