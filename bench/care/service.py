"""`python -m bench.care --service`: a subset of the households replayed through the service's own wiring
instead of the bare engine: readings decoded by the ingester's `Decoder` and handed in time order to the
service's `RuleRunner` (live progress, sweeps by the clock, its state saved to SQLite after every batch) whose
alerts go to the `TicketService` on SQLite, which files them into tickets (groups, flap control,
auto-resolve). The broker and the ingester's spool, which only carry the readings, are left out. The clock is
a `ManualClock` moved reading by reading: each reading is received half a second after its time, the runner
sweeps every `sweep_s` of clock time and ticks whenever a live timer falls due, as its `run` loop would.

The tickets are read back from the ticket store and scored like the engine's; `bench.care.run` prints both
tables for the subset, so the engine-only replay (the rest of the benchmark) is shown to give the service's
tickets.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select

from alerts.service import TicketService
from alerts.tables import create_tables as create_alert_tables
from alerts.tables import tickets
from bench.care import replay as rp
from bench.care import score as sc
from bench.care.data import Household
from core.clock import ManualClock
from core.db import make_engine
from rules.alert import Alert
from rules.config import RuleSet
from rules.runner import RuleRunner, open_engine
from rules.state import RuleStateStore
from rules.state import create_tables as create_rule_tables

TRANSPORT_S = 0.5
"""How long after its time each reading is received."""
LIVE_SLACK_S = 1.0


KeyOf = Callable[[str | None, Mapping[str, Any]], str]
"""The benchmark's household key of a ticket, from its household id and details."""


async def _replay(
    ruleset: RuleSet, series: Mapping[str, Household], tz: str, sweep_s: float, key_of: KeyOf, db: Path
) -> list[sc.Raised]:
    registry = rp.street(series)
    readings, refused = rp.decode(registry, series.values(), TRANSPORT_S)
    if refused:
        raise RuntimeError(f"the decoder refused {refused} readings")
    if not readings:
        return []
    engine = make_engine(f"sqlite+aiosqlite:///{db}")
    try:
        await create_rule_tables(engine)
        await create_alert_tables(engine)
        clock = ManualClock(readings[0].ts)
        service = TicketService(engine, lambda: registry, clock, channels=["log"])

        async def to_tickets(alerts: Sequence[Alert]) -> None:
            await service.apply(list(alerts))

        store = RuleStateStore(engine)
        eng = await open_engine(
            store, ruleset, registry, tz=tz, allowed_lateness_s=rp.LATENESS_S, live_slack_s=LIVE_SLACK_S
        )
        runner = RuleRunner(eng, store, clock, to_tickets, sweep_every_s=sweep_s, checkpoint_every_s=sweep_s)
        next_sweep = clock.now() + sweep_s

        async def until(t: float) -> None:
            """What the runner's loop does while the clock moves to `t`: sweeps, and ticks for live timers."""
            nonlocal next_sweep
            while True:
                live = eng.next_live_at()
                nxt = min(next_sweep, live if live is not None else float("inf"))
                if nxt > t:
                    break
                clock.set(max(clock.now(), nxt))
                if nxt == next_sweep:
                    next_sweep = clock.now() + sweep_s
                    await runner.sweep()
                else:
                    await runner.tick()
            clock.set(max(clock.now(), t))

        for r in readings:
            await until(r.received_at)
            await runner.on_readings([r])
        await until(readings[-1].ts + rp.LATENESS_S + sweep_s)
        async with engine.connect() as conn:
            c = tickets.c
            q = select(c.household_id, c.details, c.rule_id, c.first_seen, c.created_at).order_by(c.id)
            rows = (await conn.execute(q)).all()
        return [sc.Raised(key_of(h, d or {}), rule, float(first), float(made)) for h, d, rule, first, made in rows]
    finally:
        await engine.dispose()


def replay(
    ruleset: RuleSet, series: Mapping[str, Household], tz: str, sweep_s: float, key_of: KeyOf
) -> list[sc.Raised]:
    """The tickets the service files for `series` (keyed as the benchmark keys households)."""
    with tempfile.TemporaryDirectory(prefix="cwatch-care-") as tmp:
        return asyncio.run(_replay(ruleset, series, tz, sweep_s, key_of, Path(tmp) / "service.db"))
