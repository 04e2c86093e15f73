"""Replaying a scenario through the real service: Mosquitto, the ingester, the spool, the rule engine and the
ticket store, all on one virtual clock shared with the simulator, so a week of event time passes in minutes.

Used by `test_service_replay.py` (the smoke-test scenario) and runnable by hand for the week, writing the
scoring report of the real service:

    .venv/bin/python -m tests.simulator.service_replay week --speed 300 --report docs/simulator-scoring-service.md

Tickets are read back from the store; each ticket is one alert episode (rule, dedup key, first seen).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.clock import VirtualClock
from cwatch.app import Service
from cwatch.settings import Settings, load_settings
from devices.csvio import save_registry
from devices.registry import Registry
from simulator.clock import paced
from simulator.generate import Simulation
from simulator.publisher import Publisher, PublishStats
from simulator.scenario import Scenario, load_scenario
from simulator.score import Report, ScoredAlert, score, to_markdown
from simulator.street import registry_for
from simulator.timeparse import parse_instant


@dataclass
class ServiceRun:
    sim: Simulation
    tickets: list[ScoredAlert]
    published: PublishStats
    wall_s: float
    report: Report


def _settings(workdir: Path, registry_dir: Path, port: int, lateness: float, sweep: float = 60) -> Settings:
    cfg = workdir / "cwatch.toml"
    cfg.write_text(
        f"""
data_dir = "{workdir / "data"}"
log_level = "WARNING"
[http]
port = 0
[mqtt]
url = "mqtt://127.0.0.1:{port}"
client_id = "cwatch-replay"
[registry]
path = "{registry_dir}"
reload_every_s = 86400
[rules]
sweep_every_s = {sweep}
allowed_lateness_s = {lateness}
live_slack_s = {lateness}
""",
        encoding="utf-8",
    )
    return load_settings(cfg, environ={})


def _publish_all(sim: Simulation, clock: VirtualClock, port: int, done: threading.Event) -> PublishStats:
    """Runs in its own thread with its own event loop, so back-pressure never blocks the service."""

    async def go() -> PublishStats:
        with Publisher("127.0.0.1", port, client_id="cwatch-replay-sim", window=5000) as pub:
            async for m in paced(sim.messages(), clock):
                pub.publish(m.topic, m.payload, key="gateway")
            pub.flush(120)
            return pub.stats()

    try:
        return asyncio.run(go())
    finally:
        done.set()


async def _tickets(parts: Any) -> list[ScoredAlert]:
    from sqlalchemy import select

    from alerts.tables import tickets

    async with parts.engine.connect() as conn:
        rows = (await conn.execute(select(tickets).order_by(tickets.c.first_seen))).mappings().all()
    return [
        ScoredAlert(
            "raise",
            r["rule_id"],
            f"{r['dedup_key']}#{r['id']}",
            float(r["first_seen"]),
            r["device_id"],
            r["household_id"],
        )
        for r in rows
    ]


def part_of_street(registry: Registry, microgrid_ids: Iterable[str]) -> Registry:
    """The registry cut down to some micro-grids (with the street, communities, grids and people above them),
    so a replay through the service runs at a speed a shared 2-core machine keeps up with."""
    c = registry.collections()
    mgs = set(microgrid_ids)
    grids = {m.grid_id for m in c.microgrids if m.id in mgs}
    communities = {g.community_id for g in c.grids if g.id in grids}
    buildings = {b.id for b in c.buildings if b.microgrid_id in mgs}
    scopes = mgs | grids | communities | {s.id for s in c.streets}
    return Registry(
        streets=c.streets,
        communities=[x for x in c.communities if x.id in communities],
        grids=[x for x in c.grids if x.id in grids],
        microgrids=[x for x in c.microgrids if x.id in mgs],
        buildings=[x for x in c.buildings if x.id in buildings],
        households=[x for x in c.households if x.building_id in buildings],
        people=[x for x in c.people if x.scope_id in scopes],
        roster=[x for x in c.roster if x.microgrid_id in mgs],
        devices=[x for x in c.devices if x.building_id in buildings],
    )


async def replay_through_service(
    scenario: Scenario,
    broker_port: int,
    workdir: Path,
    *,
    speed: float = 600.0,
    lateness: float = 1800.0,
    sweep: float = 60,
    registry: Registry | None = None,
) -> ServiceRun:
    """Publish the scenario to the broker at `speed` while the whole service consumes it; return the tickets.
    `lateness` (event-time seconds) must cover how far the service may lag behind the publisher: its sweeps
    move the rules' watermark to the clock minus the lateness, and a device whose readings still wait in the
    spool would look offline. It is the live slack too: at 300x a real second of start-up or transport is
    five minutes of the clock, and a device not heard yet for it would look silent."""
    registry = registry if registry is not None else registry_for(scenario)
    registry_dir = workdir / "registry"
    save_registry(registry, registry_dir)
    sim = Simulation(registry, scenario)
    clock = VirtualClock(scenario.t0 - 60, speed)
    service = Service(_settings(workdir, registry_dir, broker_port, lateness, sweep), clock=clock)
    task = asyncio.create_task(service.run())
    started = asyncio.create_task(service.started.wait())
    done, _ = await asyncio.wait({task, started}, timeout=120, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()
    assert service.parts is not None, "service did not start"
    t0 = time.monotonic()
    finished = threading.Event()
    try:
        stats = await asyncio.to_thread(_publish_all, sim, clock, broker_port, finished)
        # let the rules see past the end (sweeps advance the watermark to now - lateness)
        await clock.sleep(max(0.0, scenario.t1 + lateness + 180 - clock.now()))
        tickets = await _tickets(service.parts)
    finally:
        service.stop()
        await asyncio.wait({task}, timeout=60)
        if not task.done():
            task.cancel()
    report = score(sim.ground_truth(), tickets, watched_household_months=sim.watched_household_months())
    return ServiceRun(sim, tickets, stats, time.monotonic() - t0, report)


def main(argv: list[str] | None = None) -> int:
    from testkit.services import MosquittoProcess

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenario")
    p.add_argument("--speed", type=float, default=300.0)
    p.add_argument("--lateness", type=float, default=4 * 3600.0)
    p.add_argument("--sweep", type=float, default=600.0)
    p.add_argument("--report")
    p.add_argument("--tickets", help="write the tickets (as scored alerts) here, JSON Lines")
    p.add_argument("--days", type=float, help="shorten the scenario to this many days")
    p.add_argument("--community", action="append", help="replay only these communities (repeatable)")
    args = p.parse_args(argv)
    scenario = load_scenario(args.scenario)
    if args.days:
        keep = [i for i in scenario.incidents if parse_instant(i.at, scenario.start) < scenario.t0 + args.days * 86_400]
        scenario = scenario.model_copy(update={"days": args.days, "hours": 0, "incidents": keep})
    registry = registry_for(scenario)
    part = ""
    if args.community:
        grids = {g.id for g in registry.grids.values() if g.community_id in args.community}
        registry = part_of_street(registry, [m.id for m in registry.microgrids.values() if m.grid_id in grids])
        part = f" (communities {', '.join(args.community)}: {len(registry.devices)} devices)"
    with tempfile.TemporaryDirectory(prefix="cw-replay-") as d:
        broker = MosquittoProcess(Path(d))
        broker.start()
        try:
            run = asyncio.run(
                replay_through_service(
                    scenario,
                    broker.port,
                    Path(d),
                    speed=args.speed,
                    lateness=args.lateness,
                    sweep=args.sweep,
                    registry=registry,
                )
            )
        finally:
            with contextlib.suppress(Exception):
                broker.stop()
    notes = [
        f"Scenario `{scenario.name}` (seed {run.sim.seed}){part} replayed through the real service (Mosquitto, ingest, "
        f"spool, rule engine, ticket store) at {args.speed:g}x on a shared virtual clock.",
        "",
        f"- Published {run.published.published} messages, acknowledged {run.published.acknowledged}; "
        f"{len(run.tickets)} tickets; {run.wall_s:.0f} s of wall time.",
    ]
    md = to_markdown(run.report, title=f"Scoring through the service: {scenario.name}", notes=notes)
    if args.report:
        Path(args.report).write_text(md, encoding="utf-8")
    if args.tickets:
        with open(args.tickets, "w", encoding="utf-8") as f:
            for t in run.tickets:
                f.write(json.dumps(dataclasses.asdict(t)) + "\n")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
