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
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from paho.mqtt.enums import MQTTProtocolVersion

from alerts.api.views import node_name
from core.clock import VirtualClock
from core.i18n import Text, env_lang, render, tr
from cwatch.app import Parts, Service, run_until_signalled
from cwatch.demo_media import SNAPSHOT_PREFIX
from cwatch.instance import AlreadyServingError, file_lock
from cwatch.mailbox import Mailbox, MailboxAt
from cwatch.settings import Settings
from devices.model import DutyShift, Role
from devices.registry import Registry
from devices.store import save_registry_db
from simulator.clock import paced_offloaded
from simulator.generate import Simulation
from simulator.message import SimMessage
from simulator.publisher import Publisher
from simulator.scenario import SCENARIO_DIR, Scenario, load_scenario

log = logging.getLogger("cwatch.demo")

URL_FILE = "url"
"""In the demo folder: the board's address of the demo running from it, so a second demo can name it."""


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


async def run_demo(settings: Settings, options: DemoOptions) -> None:
    """`cwatch demo`: the service on the demo's folder with the sample street, its accounts, its mail in a local
    mailbox and the simulator feeding it, until SIGINT/SIGTERM. Service and simulator share one clock, so a demo
    faster than real time stays consistent."""
    settings = prepare_demo(settings, options)
    clock = VirtualClock(time.time(), options.speed)
    mailbox = Mailbox()
    port = await mailbox.start()

    async def on_started(parts: Parts) -> None:
        await start_demo(parts, options)

    service = Service(
        settings, clock=clock, demo_seed=options.seed, on_started=on_started, mailbox=MailboxAt(mailbox, port)
    )
    try:
        await run_until_signalled(service)
    finally:
        await mailbox.stop()


def prepare_demo(settings: Settings, options: DemoOptions) -> Settings:
    """Point the settings at a demo folder (emptied when `fresh`) with embedded defaults. A demo already running
    from that folder holds its lock: this one stops with that said, before it deletes anything."""
    demo_dir = settings.data_path / "demo"
    demo_dir.mkdir(parents=True, exist_ok=True)
    try:
        with file_lock(demo_dir / "serve.lock", f"the demo folder {demo_dir}"):
            (demo_dir / URL_FILE).unlink(missing_ok=True)  # a kept demo's last address is not this run's
            if options.fresh:
                for child in demo_dir.iterdir():
                    if child.name == "serve.lock":
                        continue
                    if child.is_dir():
                        shutil.rmtree(child)
                    else:
                        child.unlink()
    except AlreadyServingError as e:
        raise AlreadyServingError(running_demo(demo_dir, e)) from None
    # the board shows the snapshots the demo serves itself (`cwatch.demo_media`); only the demo allows this machine
    own = f"{media_host(settings)}:{settings.http.port or '*'}"
    media = settings.media.model_copy(update={"hosts": [*settings.media.hosts, own]})
    return settings.model_copy(update={"demo": True, "data_dir": str(demo_dir), "media": media})


def media_host(settings: Settings) -> str:
    """The host the demo's snapshot URLs name: the board's, or 127.0.0.1 when it listens on every address."""
    host = settings.http.host
    if host in ("", "0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def running_demo(demo_dir: Path, held: AlreadyServingError) -> Text:
    """What a second demo says: where the running one is (its board's address, once it has started)."""
    try:
        url = (demo_dir / URL_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        url = ""
    if not url:
        return tr("cli.demo_already_starting", why=str(held))
    return tr("cli.demo_already_running", url=url, folder=str(demo_dir))


def demo_microgrid(registry: Registry) -> str:
    """The micro-grid of the demo's leader and worker: the first with both (the simulator aims every other
    incident at it, so their boards fill within a minute)."""
    for mg in registry.microgrids.values():
        if registry.people_at(mg.id, Role.MICROGRID_LEADER) and registry.people_at(mg.id, Role.GRID_WORKER):
            return mg.id
    raise RuntimeError("the sample street has no micro-grid with a leader and a worker")


def demo_accounts(registry: Registry, when: datetime | None = None) -> list[DemoAccount]:
    """One account per role, mapped to people of the sample street so tickets assigned to them show up: the
    worker is the one on duty in the demo's micro-grid at `when` (default now), so "Mine" fills too."""
    street = next(iter(registry.streets.values()))
    community = next(iter(registry.communities.values()))
    mg = registry.microgrids[demo_microgrid(registry)]
    workers = registry.people_at(mg.id, Role.GRID_WORKER)
    on_duty = [p for p in registry.on_duty(mg.id, when or datetime.now(UTC)) if p.role is Role.GRID_WORKER]
    workers = on_duty or workers

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


DEMO_DUTY = timedelta(days=3650)
"""How long the demo worker's own shift runs: longer than any demo, so "Mine" never empties at a shift change."""


def demo_roster(registry: Registry, when: datetime) -> Registry | None:
    """The registry with the demo worker (the one on duty in the demo's micro-grid at `when`) on duty there
    from before the roster's first shift for `DEMO_DUTY`, so dispatch picks them first at any hour the demo
    runs; None when the roster says so already (a kept demo)."""
    mg = demo_microgrid(registry)
    worker = next(a for a in demo_accounts(registry, when) if a.role is Role.GRID_WORKER).person_id
    if worker is None:
        return None
    shifts = registry.shifts_in(mg)
    if any(s.person_id == worker and s.covers(when) and s.covers(when + DEMO_DUTY / 2) for s in shifts):
        return None
    start = min([s.start for s in shifts] + [when]) - timedelta(days=1)
    duty = DutyShift(worker, mg, start, when + DEMO_DUTY)
    return registry.with_changes(roster=[*registry.roster, duty])


async def keep_demo_worker_on_duty(parts: Parts) -> None:
    """Store the demo roster and switch the running service to it (dispatch reads the registry at each use)."""
    when = datetime.fromtimestamp(parts.clock.now(), UTC)
    reg = demo_roster(parts.registry(), when)
    if reg is None:
        return
    revision = await save_registry_db(parts.engine, reg)
    parts.registry.replace(reg, revision, (parts.runner.set_registry, parts.ingester.set_registry))


async def create_demo_accounts(parts: Parts) -> list[tuple[DemoAccount, str]]:
    """The demo's accounts with new passwords; a kept demo (`--keep`) has them already: they get new passwords
    and keep their tickets, sessions end."""
    accounts = parts.accounts
    when = datetime.fromtimestamp(parts.clock.now(), UTC)
    created = []
    for acc in demo_accounts(parts.registry(), when):
        password = secrets.token_urlsafe(9)
        existing = await accounts.by_username(acc.username)
        if existing is None:
            await accounts.create_account(
                acc.username, password, acc.role, acc.scope_id, acc.display_name, person_id=acc.person_id
            )
        else:
            await accounts.set_password(existing.id, password)
        created.append((acc, password))
    return created


async def start_demo(parts: Parts, options: DemoOptions) -> None:
    """Keep the demo worker on duty, create the accounts, print how to log in, then run the simulator until the
    service stops."""
    await keep_demo_worker_on_duty(parts)
    created = await create_demo_accounts(parts)
    url = f"http://{parts.settings.http.host}:{parts.http_port}"
    (parts.settings.data_path / URL_FILE).write_text(url + "/\n", encoding="utf-8")
    lines = banner(created, parts.registry(), url, parts.mqtt_host, parts.mqtt_port, env_lang())
    print("\n".join(lines), file=sys.stderr, flush=True)

    if not options.simulate:
        return
    await feed_simulator(parts, options)


def banner(
    created: list[tuple[DemoAccount, str]], reg: Registry, url: str, mqtt_host: str, mqtt_port: int, lang: str
) -> list[str]:
    """How to use the running demo: its addresses, its street, and each account with its password and scope
    by name."""
    lines = [
        "",
        render("cli.demo_running", lang),
        render("cli.demo_board", lang, {"url": url}),
        render("cli.demo_broker", lang, {"host": mqtt_host, "port": mqtt_port}),
        render("cli.demo_mailbox", lang, {"url": url}),
        render(
            "cli.demo_street",
            lang,
            {"microgrids": len(reg.microgrids), "households": len(reg.households), "devices": len(reg.devices)},
        ),
        render("cli.demo_log_in_as", lang),
    ]
    for acc, password in created:
        values = {
            "username": f"{acc.username:<10}",
            "password": f"{password:<14}",
            "role": render(f"names.role.{acc.role.value}", lang),
            "scope": node_name(reg, acc.scope_id) or acc.scope_id,
            "name": acc.display_name,
        }
        lines.append(render("cli.demo_account", lang, values))
    lines.append(render("cli.demo_stop", lang))
    return lines


def demo_scenario_path() -> Path:
    """The demo scenario shipped with the simulator: the sample street with an incident every ~20 s."""
    path: Path = SCENARIO_DIR / "demo.yaml"
    return path


def demo_windows(scenario: Scenario, microgrid: str) -> Iterator[Scenario]:
    """The demo scenario again and again, each window starting where the last ended, with every other incident
    in `microgrid`: the demo feeds data and incidents for as long as it runs."""
    if scenario.incident_stream is not None:
        stream = scenario.incident_stream.model_copy(update={"focus": microgrid})
        scenario = scenario.model_copy(update={"incident_stream": stream})
    while True:
        yield scenario
        scenario = scenario.model_copy(update={"start": scenario.end_datetime()})


def demo_messages(
    registry: Callable[[], Registry], scenario: Scenario, seed: int, devices: list[str] | None = None
) -> Iterator[SimMessage]:
    """The messages of `demo_windows` one window after another, without end. Each window has its own seed, so
    its background and incidents differ from the last (and devices' sequence numbers start afresh)."""
    for n, window in enumerate(demo_windows(scenario, demo_microgrid(registry()))):
        yield from Simulation(registry(), window, seed + n).messages(devices)


async def feed_simulator(parts: Parts, options: DemoOptions) -> None:
    """Publish the demo scenario to the broker, window after window, paced on the service's own clock, until
    cancelled.

    The service and the simulator share one clock, so device timestamps are "now" for the ingester and the
    rule engine even when the demo runs faster than real time."""
    clock = parts.clock
    scenario = load_scenario(demo_scenario_path())
    start = datetime.fromtimestamp(clock.now(), tz=UTC).astimezone(ZoneInfo(parts.settings.timezone))
    media_base = f"http://{media_host(parts.settings)}:{parts.http_port}{SNAPSHOT_PREFIX}"
    scenario = scenario.model_copy(update={"start": start.replace(microsecond=0), "media_base": media_base})
    publisher = Publisher(
        parts.mqtt_host, parts.mqtt_port, client_id="cwatch-demo-simulator", protocol=MQTTProtocolVersion.MQTTv311
    )
    await asyncio.to_thread(publisher.connect)
    try:
        async for m in paced_offloaded(demo_messages(parts.registry, scenario, options.seed), clock):
            publisher.publish(m.topic, m.payload)
    finally:
        await asyncio.to_thread(publisher.close)
