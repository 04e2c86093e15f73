"""Demo mode: the sample street, one account per role, and the simulator feeding the embedded broker.

Demo data lives in its own folder (`<data_dir>/demo`) and, unless kept, starts empty every run, so every
`make demo` shows the same street and prints fresh passwords. Outside demo mode none of this runs: there is no
default account and no default password anywhere."""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from devices.model import Role
from devices.registry import Registry

if TYPE_CHECKING:
    from cwatch.app import Parts
    from cwatch.settings import Settings

log = logging.getLogger("cwatch.demo")


@dataclass(frozen=True)
class DemoOptions:
    seed: int = 1
    speed: float = 1.0  # simulated seconds per real second
    simulate: bool = True
    fresh: bool = True


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: Role
    scope_id: str
    display_name: str
    person_id: str | None


def prepare_demo(settings: Settings, options: DemoOptions) -> Settings:
    """Point the settings at a demo folder (emptied when `fresh`) with embedded defaults."""
    demo_dir = settings.data_path / "demo"
    if options.fresh and demo_dir.exists():
        shutil.rmtree(demo_dir)
    demo_dir.mkdir(parents=True, exist_ok=True)
    return settings.model_copy(update={"demo": True, "data_dir": str(demo_dir)})


def demo_accounts(registry: Registry) -> list[DemoAccount]:
    """One account per role, mapped to people of the sample street so tickets assigned to them show up."""
    street = next(iter(registry.streets.values()))
    community = next(iter(registry.communities.values()))
    # The first micro-grid that has both a leader and a worker.
    for mg in registry.microgrids.values():
        leaders = registry.people_at(mg.id, Role.MICROGRID_LEADER)
        workers = registry.people_at(mg.id, Role.GRID_WORKER)
        if leaders and workers:
            break
    else:
        raise RuntimeError("the sample street has no micro-grid with a leader and a worker")

    def person(scope: str, role: Role) -> tuple[str, str | None]:
        people = registry.people_at(scope, role)
        return (people[0].name, people[0].id) if people else (role.value, None)

    out = []
    for username, role, scope in (
        ("street", Role.STREET_DUTY, street.id),
        ("community", Role.COMMUNITY_DUTY, community.id),
        ("leader", Role.MICROGRID_LEADER, mg.id),
        ("worker", Role.GRID_WORKER, mg.id),
        ("operator", Role.OPERATOR, street.id),
    ):
        name, pid = person(scope, role)
        if role is Role.GRID_WORKER:
            name, pid = workers[0].name, workers[0].id
        out.append(DemoAccount(username, role, scope, name, pid))
    return out


async def create_demo_accounts(parts: Parts) -> list[tuple[DemoAccount, str]]:
    from alerts.accounts import AccountStore

    accounts: AccountStore = parts.extras["accounts"]
    created = []
    for acc in demo_accounts(parts.registry()):
        password = secrets.token_urlsafe(9)
        await accounts.create_account(
            acc.username, password, acc.role, acc.scope_id, acc.display_name, person_id=acc.person_id
        )
        created.append((acc, password))
    return created


async def start_demo(parts: Parts, options: DemoOptions) -> None:
    """Create the accounts, print how to log in, then run the simulator until the service stops."""
    created = await create_demo_accounts(parts)
    reg = parts.registry()
    url = f"http://{parts.settings.http.host}:{parts.http_port}"
    lines = [
        "",
        "cwatch demo is running",
        f"  board:   {url}/        API: {url}/api/v1/   described: {url}/api/openapi.json, docs/api.md",
        f"  broker:  mqtt://{parts.mqtt_host}:{parts.mqtt_port} (embedded)",
        f"  mailbox: {url}/demo/mailbox   (the notices cwatch sends; tap a link in one)",
        f"  street:  {len(reg.microgrids)} micro-grids, {len(reg.households)} households, {len(reg.devices)} devices",
        "  log in as (demo accounts, new passwords every run):",
    ]
    for acc, password in created:
        lines.append(
            f"    {acc.username:<10} {password:<14} {acc.role.value:<17} scope {acc.scope_id} ({acc.display_name})"
        )
    lines.append("  stop with Ctrl-C")
    print("\n".join(lines), file=sys.stderr, flush=True)

    if not options.simulate:
        return
    await feed_simulator(parts, options)


def demo_scenario_path() -> Path:
    """The demo scenario shipped with the simulator: the sample street with an incident every ~20 s."""
    from simulator.scenario import SCENARIO_DIR

    path: Path = SCENARIO_DIR / "demo.yaml"
    return path


async def feed_simulator(parts: Parts, options: DemoOptions) -> None:
    """Publish the demo scenario to the broker, paced on the service's own clock, until cancelled.

    The service and the simulator share one clock, so device timestamps are "now" for the ingester and the
    rule engine even when the demo runs faster than real time."""
    from paho.mqtt.enums import MQTTProtocolVersion

    from simulator.clock import paced_offloaded
    from simulator.generate import Simulation
    from simulator.publisher import Publisher
    from simulator.scenario import load_scenario

    clock = parts.clock
    scenario = load_scenario(demo_scenario_path())
    start = datetime.fromtimestamp(clock.now(), tz=UTC).astimezone(ZoneInfo(parts.settings.timezone))
    scenario = scenario.model_copy(update={"start": start.replace(microsecond=0)})
    sim = Simulation(parts.registry(), scenario, options.seed)
    publisher = Publisher(
        parts.mqtt_host, parts.mqtt_port, client_id="cwatch-demo-simulator", protocol=MQTTProtocolVersion.MQTTv311
    )
    await asyncio.to_thread(publisher.connect)
    try:
        async for m in paced_offloaded(sim.messages(), clock):
            publisher.publish(m.topic, m.payload)
    finally:
        await asyncio.to_thread(publisher.close)
