"""The ingester's side of the telemetry drain process (`ingest.drainer`): start it, stop it, start it again.

Why a process: line protocol, gzip and the HTTP client cost about a third of the ingester's CPU per message,
and in one process they also contend for the GIL with the MQTT transport and the decoder. In a second process
they run on the other core.

The spool file is the whole interface. The drain process reads after its "telemetry" cursor and commits each
cursor move together with the points the database refused (`ingest.drain`); the ingester moves those into the
dead letters (`ingest.mover`) and reads the drain process's metrics from files (`ingest.metrics`). Its stdin
carries the start (its configuration, one line) and the stop (end of input, also when the ingester dies):
nothing that has to arrive for anything to be stored. A drain process killed at any point leaves the cursor and
the refused rows of its last committed batch, and its successor writes the next batch again (points are
idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import sys
from collections.abc import Callable
from typing import Any

import msgspec

from ingest.backoff import backoff_delay
from ingest.metrics import DrainMetricFiles

log = logging.getLogger(__name__)


class DrainConfig(msgspec.Struct, forbid_unknown_fields=True):
    """What the drain process is started with (the first line of its stdin)."""

    spool: str
    data_dir: str
    telemetry: dict[str, Any]  # `ingest.settings.TelemetrySettings`, as a dict
    limit: int = 5_000
    depth: int = 2
    retry_initial_s: float = 0.5
    retry_max_s: float = 30.0
    poll_s: float = 0.02  # how often it looks for appends (the file's data version)
    refused_payload_max: int = 65_536  # payload bytes kept of a refused point (`ingest.spool.REFUSED_PAYLOAD_MAX`)


class DrainProcess:
    """Runs `python -m ingest.drainer` under supervision until cancelled, with its metrics in `metrics_files`."""

    def __init__(
        self,
        config: DrainConfig,
        metrics_files: DrainMetricFiles,
        *,
        on_restart: Callable[[int | None], None] = lambda _rc: None,
        restart_initial_s: float = 0.5,
        restart_max_s: float = 30.0,
        python: str = sys.executable,
    ) -> None:
        self.config = config
        self.metrics_files = metrics_files
        self._on_restart = on_restart
        self._restart_initial_s = restart_initial_s
        self._restart_max_s = restart_max_s
        self._python = python
        self._rng = random.Random()
        self.pid: int | None = None

    async def run(self) -> None:
        await asyncio.to_thread(self.metrics_files.reset)  # this run's counters start from the ingester's
        failures = 0
        while True:
            try:
                rc = await self._run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # could not start it (fork failed: EAGAIN, ENOMEM) or a bug: start it again
                log.exception("telemetry drain process failed")
                rc = None
            failures += 1
            delay = backoff_delay(failures - 1, initial=self._restart_initial_s, cap=self._restart_max_s, rng=self._rng)
            log.error("telemetry drain process ended (exit status %s); starting it again in %.1fs", rc, delay)
            self._on_restart(rc)
            await asyncio.sleep(delay)

    async def _run_once(self) -> int | None:
        """Start it, give it its configuration, wait until it exits; then fold its metrics into the retired."""
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_files.path)}
        proc = await asyncio.create_subprocess_exec(
            self._python, "-m", "ingest.drainer", stdin=asyncio.subprocess.PIPE, env=env
        )
        self.pid = proc.pid
        try:
            assert proc.stdin is not None
            proc.stdin.write(msgspec.json.encode(self.config) + b"\n")
            with contextlib.suppress(ConnectionError):  # it died at once: its exit status says more
                await proc.stdin.drain()
            rc = await proc.wait()
        finally:
            await self._stop(proc)
        await asyncio.to_thread(self.metrics_files.retire, proc.pid)
        return rc

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
