"""`RuleRunner`: drives an `Engine` in the service. Readings come from the ingester's "rules" spool consumer;
a loop on the clock runs the time-driven checks, saves the state and picks up edits of the rules file.

Order per batch: judge, hand the alerts to the sink, then save the snapshot (see `rules.state` for why)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from cwatch.clock import Clock
from devices.reading import Reading
from devices.registry import Registry
from rules.alert import Alert
from rules.config import RuleSet, load_ruleset
from rules.engine import Engine, EngineState
from rules.errors import RuleConfigError
from rules.state import RuleStateStore

log = logging.getLogger(__name__)

Sink = Callable[[list[Alert]], Awaitable[None]]


async def open_engine(store: RuleStateStore, ruleset: RuleSet, registry: Registry, **engine_kw: Any) -> Engine:
    """An engine with the saved state when there is one (after a restart), else a fresh one."""
    saved = await store.load()
    state = EngineState.from_bytes(saved[0]) if saved is not None else None
    return Engine(ruleset, registry, state=state, **engine_kw)


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class RuleRunner:
    """Feeds readings to the engine, sweeps every `sweep_every_s` of clock time, checkpoints, hot-reloads.

    `checkpoint_every_s` (clock time) limits how often a batch without alerts is saved; 0 saves after every
    batch, which is what makes "no missed alert after a restart" hold for states begun just before it."""

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
        self.last_reload_error: RuleConfigError | None = None
        self.reloads = 0
        #: told (path, sha-256 of the new content, number of rules) after each reload that took (the audit log)
        self.on_reload: Callable[[Path, str, int], None] | None = None
        self._digest = _digest(rules_path) if rules_path is not None else None
        self._lock = asyncio.Lock()
        self._last_save = float("-inf")
        # the state the store holds (or, before the first save, the one the engine started from): what the engine
        # goes back to when a batch's alerts could not be handed on or its state not saved
        self._saved = engine.snapshot()
        self.last_sweep_at: float | None = None  # clock time of the last sweep of `run` that succeeded
        self.failed_sweeps = 0
        self.failed_readings = 0  # readings the engine failed on (a bug), passed over

    async def on_readings(self, readings: Sequence[Reading]) -> None:
        """Judge a batch; returns once its alerts were handed on and the state saved. If either fails, the
        engine goes back to the last saved state and the error propagates: the spool hands the batch again,
        and judged again it raises the same alerts (the alerts service folds repeats by dedup key)."""
        async with self._lock, self._undone_on_failure():
            alerts = self._judge(readings)
            if alerts:
                await self.sink(alerts)
            await self._checkpoint(force=bool(alerts))

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
            self.maybe_reload()
            async with self._undone_on_failure():
                self.engine.start_at(self.clock.now())
                limit = self._sweep_limit()
                alerts = self.engine.advance(limit) if limit > float("-inf") else []
                if alerts:
                    await self.sink(alerts)
                await self._checkpoint(force=True)
                return alerts

    @contextlib.asynccontextmanager
    async def _undone_on_failure(self) -> AsyncIterator[None]:
        """Judging, hand-off and save succeed together or the engine returns to the last saved state. With
        `checkpoint_every_s` > 0 that state may be older than the batches already taken from the spool: what
        they changed without raising anything is lost, as in a restart."""
        try:
            yield
        except BaseException:
            try:
                self.engine.load_snapshot(self._saved)
            except Exception:  # the engine is left as it was; the original error is the one to report
                log.exception("could not go back to the last saved rule state")
            self._last_save = float("-inf")  # save at the next chance: the store is behind the engine again
            raise

    def _sweep_limit(self) -> float:
        """How far in event time a sweep may judge silences. By the clock when every reading has been judged;
        while readings are still queued for us (a backlog after an outage or a restart), only as far as the
        readings already judged, or every device whose readings wait in the queue would look silent."""
        limit = self.clock.now() - self.engine.allowed_lateness_s
        if self.backlog is not None and self.backlog() > 0:
            judged = self.engine.watermark
            return min(limit, judged) if judged is not None else float("-inf")
        return limit

    async def run(self) -> None:
        """Sweep forever on the clock; cancel the task to stop (the state of the last sweep is saved). A failed
        sweep (the ticket or state database unreachable) is undone, logged and tried again at the next one: it
        must not end the loop, and with it the service."""
        while True:
            await self.clock.sleep(self.sweep_every_s)
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.failed_sweeps += 1
                log.exception("rule sweep failed; undone, the next sweep tries again")
            else:
                self.last_sweep_at = self.clock.now()

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
            alerts = self.engine.acknowledge_absence(household_id, until, at=at)
            if alerts:
                await self.sink(alerts)
            await self._checkpoint(force=True)
            return alerts

    def absence_rule_ids(self) -> frozenset[str]:
        """Rules whose alerts wait for a person's answer (absence and learned-baseline kinds)."""
        return frozenset(r.id for r in self.engine.ruleset.rules if r.kind in ("absence", "baseline"))

    async def checkpoint(self) -> None:
        async with self._lock:
            await self._checkpoint(force=True)

    async def _checkpoint(self, *, force: bool) -> None:
        now = self.clock.now()
        if not force and now - self._last_save < self.checkpoint_every_s:
            return
        snapshot = self.engine.snapshot()
        await self.store.save(snapshot, self.engine.watermark)
        self._saved = snapshot
        self._last_save = now
