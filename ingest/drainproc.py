"""The ingester's side of the telemetry drain process (`ingest.drainer`): start it, tell it about appends, turn
its reports into metrics and dead letters, and start it again when it dies.

Why a process: line protocol, gzip and the HTTP client cost about a third of the ingester's CPU per message,
and in one process they also contend for the GIL with the MQTT transport and the decoder. In a second process
they run on the other core. The spool file is the hand-over, so nothing new has to be durable: a drain process
killed mid-batch leaves the "telemetry" cursor where it was, and its successor rewrites that batch (points are
idempotent). Points the database refused are reported with a question: the child moves its cursor past them only
once `on_refused` has stored their dead letters here and the answer `ok` has reached it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from ingest.backoff import backoff_delay
from ingest.drainer import DrainConfig

log = logging.getLogger(__name__)

REPORT_LINE_LIMIT = 16 * 1024 * 1024
"""Longest report line read from the drain process (asyncio's default is 64 KiB). Its refused rows come 100 to
a line, far below this; a longer line is dropped with an error, never fatal."""

Report = dict[str, Any]


@dataclasses.dataclass
class _Question:
    """The parts of one refusal question read so far."""

    rows: list[list[Any]] = dataclasses.field(default_factory=list)
    next: int = 0
    whole: bool = True


class DrainProcess:
    """Runs `python -m ingest.drainer` under supervision until cancelled. `appended` is set by the ingester after
    each spool append; `on_report` receives every report the process prints (see `ingest.drainer`), and
    `on_refused` stores the refused rows of one question (all its parts, in one call; raising when it cannot):
    the child hears `ok` or `no` when it is done."""

    def __init__(
        self,
        config: DrainConfig,
        *,
        on_report: Callable[[Report], None],
        on_refused: Callable[[list[list[Any]]], Awaitable[None]],
        on_restart: Callable[[int | None], None] = lambda _rc: None,
        restart_initial_s: float = 0.5,
        restart_max_s: float = 30.0,
        python: str = sys.executable,
    ) -> None:
        self.config = config
        self._on_report = on_report
        self._on_refused = on_refused
        self._on_restart = on_restart
        self._restart_initial_s = restart_initial_s
        self._restart_max_s = restart_max_s
        self._python = python
        self._rng = random.Random()
        self.pid: int | None = None
        self.ready = asyncio.Event()

    async def run(self, appended: asyncio.Event) -> None:
        failures = 0
        while True:
            try:
                rc = await self._run_once(appended)
            except asyncio.CancelledError:
                raise
            except Exception:  # could not start it (fork failed: EAGAIN, ENOMEM) or a bug: start it again
                log.exception("telemetry drain process failed")
                rc = None
            self.ready.clear()
            failures += 1
            delay = backoff_delay(failures - 1, initial=self._restart_initial_s, cap=self._restart_max_s, rng=self._rng)
            log.error("telemetry drain process ended (exit status %s); starting it again in %.1fs", rc, delay)
            self._on_restart(rc)
            await asyncio.sleep(delay)

    async def _run_once(self, appended: asyncio.Event) -> int | None:
        proc = await asyncio.create_subprocess_exec(
            self._python,
            "-m",
            "ingest.drainer",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=REPORT_LINE_LIMIT,
        )
        self.pid = proc.pid
        assert proc.stdin is not None
        assert proc.stdout is not None
        stdin, stdout = proc.stdin, proc.stdout
        try:
            stdin.write(msgspec.json.encode(self.config) + b"\n")
            await stdin.drain()
            notifier = asyncio.create_task(self._notify(stdin, appended))
            answering: set[asyncio.Task[None]] = set()
            try:
                await self._read_reports(stdout, stdin, answering)
            finally:
                for task in (notifier, *answering):
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                    await notifier
                await asyncio.gather(*answering, return_exceptions=True)
            return await proc.wait()
        except ConnectionError:  # it died while we wrote to it
            return await proc.wait()
        finally:
            await self._stop(proc)

    async def _notify(self, stdin: asyncio.StreamWriter, appended: asyncio.Event) -> None:
        while True:
            await appended.wait()
            appended.clear()
            stdin.write(b"a\n")
            await stdin.drain()

    async def _answer(self, stdin: asyncio.StreamWriter, ask: int, rows: list[list[Any]] | None) -> None:
        """Store one question's refused rows, then tell the child whether it may move past those points. `None`:
        a part of the question was lost (a dropped line), so the answer is `no` and the child asks again."""
        ok = False
        try:
            if rows is not None:
                await self._on_refused(rows)
                ok = True
        except Exception as exc:  # the child retries the batch, and asks again
            log.error("could not store the dead letters of %d refused points: %s", len(rows or ()), exc)
        if not stdin.is_closing():
            stdin.write(b"%s %d\n" % (b"ok" if ok else b"no", ask))
            with contextlib.suppress(ConnectionError):
                await stdin.drain()

    async def _read_reports(
        self, stdout: asyncio.StreamReader, stdin: asyncio.StreamWriter, answering: set[asyncio.Task[None]]
    ) -> None:
        decoder = msgspec.json.Decoder(dict[str, Any])
        questions: dict[int, _Question] = {}  # questions whose last part is still to come

        def answer(ask: int, rows: list[list[Any]] | None) -> None:
            task = asyncio.create_task(self._answer(stdin, ask, rows))
            answering.add(task)
            task.add_done_callback(answering.discard)

        while True:
            try:
                line = await stdout.readline()
            except ValueError:  # a line past the limit (the reader has dropped it): report it, read on
                log.error("telemetry drain process printed a report line over %d bytes; dropped", REPORT_LINE_LIMIT)
                for ask in list(questions):  # it may have been a part of one: those are answered `no` now
                    del questions[ask]
                    answer(ask, None)
                continue
            if not line:
                return
            try:
                report = decoder.decode(line)
            except msgspec.DecodeError:
                log.warning("telemetry drain process printed %r", line[:200])
                continue
            if "ready" in report:
                self.ready.set()
            self._on_report(report)
            if "ask" in report and "refused" in report:
                ask, part, n = int(report["ask"]), int(report["part"]), int(report["parts"])
                q = questions.setdefault(ask, _Question())
                q.whole = q.whole and part == q.next  # a part missing in between: answer `no`
                q.next = part + 1
                q.rows.extend(report["refused"])
                if part >= n - 1:
                    del questions[ask]
                    answer(ask, q.rows if q.whole else None)

    @staticmethod
    async def _stop(proc: asyncio.subprocess.Process) -> None:
        """Close its input (it exits on end of input), then insist."""
        if proc.returncode is not None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(Exception):
                proc.stdin.close()
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), timeout=10)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        except asyncio.CancelledError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise
