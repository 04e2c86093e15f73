"""`cwatch demo` started inside a test: the service on embedded defaults (amqtt broker, SQLite) in a temp data
folder, the demo accounts made and the simulator feeding it, as `cwatch demo` does.

    async with running_demo(tmp_path, DemoOptions(seed=1)) as (parts, created):
        parts.http_port, created  # [(DemoAccount, password), ...]

The service is stopped when the block ends, whatever happened in it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

from core.clock import VirtualClock
from cwatch.app import Parts, Service
from cwatch.demo import (
    DemoAccount,
    DemoOptions,
    care_clocks,
    create_demo_accounts,
    feed_simulator,
    keep_demo_worker_on_duty,
    prepare_demo,
)
from cwatch.settings import load_settings
from testkit.services import free_port

Started = tuple[Parts, list[tuple[DemoAccount, str]]]


@contextlib.asynccontextmanager
async def running_demo(
    data_dir: Path, options: DemoOptions, *, clock_speed: float = 1.0, worker_on_duty: bool = False
) -> AsyncIterator[Started]:
    """The demo running on `data_dir`, its clock `clock_speed` times real time, yielded once it has started and
    made its accounts (within 60 s, or the test fails); `worker_on_duty` keeps the demo worker on duty first."""
    settings = load_settings(
        None,
        environ={
            "CWATCH_DATA_DIR": str(data_dir),
            "CWATCH_HTTP__PORT": "0",
            "CWATCH_MQTT__EMBEDDED_PORT": str(free_port()),
        },
    )
    settings = prepare_demo(settings, options)
    ready: asyncio.Queue[Started] = asyncio.Queue()

    async def on_started(parts: Parts) -> None:
        if worker_on_duty:
            await keep_demo_worker_on_duty(parts)
        await ready.put((parts, await create_demo_accounts(parts)))
        await feed_simulator(parts, options)

    clock = VirtualClock(time.time(), clock_speed)
    service = Service(
        settings, clock=clock, demo_seed=options.seed, on_started=on_started, on_rules=care_clocks(clock, options)
    )
    task = asyncio.create_task(service.run())
    try:
        getter = asyncio.create_task(ready.get())
        done, _ = await asyncio.wait({task, getter}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            task.result()
        assert getter in done, "demo did not start within 60 s"
        yield getter.result()
    finally:
        service.stop()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(task, 30)
