"""An away is saved in the store, then handed to the rule engine, whose state is saved after: a crash in between
leaves the two apart. The state such a crash leaves is made here directly (an away saved and never handed; an
away handed, then ended in the store and the end never handed), and the next start must bring the engine in
line with the store, as the API would have."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

from alerts.audit import Who
from alerts.away import HouseholdAways
from cwatch.app import Parts, Service
from cwatch.settings import load_settings
from devices.model import DeviceClass
from rules.engine import Engine
from testkit.services import MosquittoProcess

DAY = 86_400.0


@contextlib.asynccontextmanager
async def serving(cfg: Path) -> AsyncIterator[tuple[Parts, Engine]]:
    """A service on `cfg` until the block ends (a stop saves the rule state); the engine once its answers of
    start-up have been handed over."""
    engines: list[Engine] = []
    service = Service(load_settings(cfg, environ={}), demo_seed=1, on_rules=engines.append)
    task = asyncio.create_task(service.run())
    try:
        deadline = time.monotonic() + 60
        while not service.started.is_set():
            assert time.monotonic() < deadline, "the service did not start"
            assert not task.done(), task
            await asyncio.sleep(0.02)
        assert service.parts is not None
        await asyncio.wait_for(service.parts.answers.drain(), timeout=30)
        yield service.parts, engines[0]
    finally:
        service.stop()
        await asyncio.wait_for(task, timeout=60)


async def test_a_start_hands_the_engine_the_aways_the_store_holds(tmp_path: Path, mosquitto: MosquittoProcess) -> None:
    cfg = tmp_path / "cwatch.toml"
    cfg.write_text(
        f'data_dir = "{tmp_path / "data"}"\n[http]\nport = 0\n[mqtt]\nurl = "mqtt://127.0.0.1:{mosquitto.port}"\n',
        encoding="utf-8",
    )
    async with serving(cfg) as (parts, engine):
        reg = parts.registry()
        metered = sorted(
            h.id
            for h in reg.households.values()
            if h.care.watched
            and any(d.device_class is DeviceClass.WATER_METER for d in reg.devices_of_household(h.id))
            and h.care.away_until is None
        )
        saved_only, ended_unheard = metered[:2]
        now = parts.clock.now()
        aways = HouseholdAways(parts.engine)
        # an away handed to the engine, whose end was then saved and never handed (the crash came first)
        parts.answers.answer(ended_unheard, now + 5 * DAY)
        await parts.answers.drain()
        assert engine.away_answers()[ended_unheard] == now + 5 * DAY
        # an away saved and never handed (the crash came first)
        away = await aways.set(saved_only, now + 3 * DAY, "住院", Who("li", "test"), now)
        assert engine.away_answers()[saved_only] is None

    async with serving(cfg) as (_, engine):
        held = engine.away_answers()
        assert held[saved_only] == away.until
        assert held[ended_unheard] is None
