"""Demo mode: the sample street, one account per role, and the simulator feeding the embedded broker.

Demo data lives in its own folder (`<data_dir>/demo`) and, unless kept, starts empty every run, so every
`make demo` shows the same street and prints fresh passwords. Outside demo mode none of this runs: there is no
default account and no default password anywhere."""

from __future__ import annotations

import asyncio
import heapq
import itertools
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
from core.clock import Clock, VirtualClock
from core.i18n import Text, env_lang, render, tr
from cwatch.app import Parts, Service, run_until_signalled
from cwatch.demo_media import SNAPSHOT_PREFIX
from cwatch.instance import AlreadyServingError, file_lock
from cwatch.mailbox import Mailbox, MailboxAt
from cwatch.settings import Settings
from devices.model import Device, DeviceClass, DutyShift, Role
from devices.registry import Registry
from devices.store import save_registry_db
from rules.engine import Engine
from simulator.clock import paced_offloaded
from simulator.generate import Simulation
from simulator.message import SimMessage
from simulator.publisher import Publisher
from simulator.scenario import SCENARIO_DIR, IncidentSpec, Scenario, load_scenario

log = logging.getLogger("cwatch.demo")

URL_FILE = "url"
"""In the demo folder: the board's address of the demo running from it, so a second demo can name it."""

CARE_HISTORY_DAYS = 8
"""Days of water use a fresh demo's watched households start with: more than the 7 a resident's routine is
learned from (`elderly_unusual_inactivity.min_days`) and the 72 h a no-water ticket's evidence chart shows."""

CARE_AHEAD_DAYS = 7
"""How long the first simulation of their meters goes on after that, the fall included; then their meters go on
a simulation of this many days after another, for as long as the demo runs (`care_messages`)."""

FALL_HOUR = 8
FALL_AGO_H = 13
"""The demo's resident fell at the last 08:00 (local) at least 13 h before the demo started: the 12 h absence
fell due by day (20:00 at the latest, outside anyone's quiet hours) and is unusual for a learned routine."""


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
        settings,
        clock=clock,
        demo_seed=options.seed,
        on_started=on_started,
        mailbox=MailboxAt(mailbox, port),
        on_rules=care_clocks(clock, options),
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
    # the care history (`care_scenario`) is older than the ingester's usual limit on device time
    max_age_s = max(settings.ingest.max_age_s, (CARE_HISTORY_DAYS + 1) * 86_400.0)
    ingest = settings.ingest.model_copy(update={"max_age_s": max_age_s})
    update = {"demo": True, "data_dir": str(demo_dir), "media": media, "ingest": ingest}
    return settings.model_copy(update=update)


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
    # from before the watched households' history too: tickets of its days are assigned by the roster then
    start = min([s.start for s in shifts] + [when - timedelta(days=CARE_HISTORY_DAYS)]) - timedelta(days=1)
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
    its background and incidents differ from the last (and devices' sequence numbers start afresh); a water
    meter's register goes on from where the last window left it, as in `care_messages`."""
    registers: dict[str, float] = {}
    for n, window in enumerate(demo_windows(scenario, demo_microgrid(registry()))):
        yield from Simulation(registry(), window, seed + n, registers).messages(devices)


def care_meters(registry: Registry, microgrid: str) -> list[Device]:
    """The water meters reporting at least hourly of the households in `microgrid` that the care rules watch."""
    out = []
    for d in registry.devices_under(microgrid):
        h = registry.households.get(d.household_id) if d.household_id else None
        if d.device_class is DeviceClass.WATER_METER and d.expected_interval_s <= 3600 and h and h.care.watched:
            out.append(d)
    return out


def care_clocks(clock: Clock, options: DemoOptions) -> Callable[[Engine], None] | None:
    """For a fresh demo with the simulator: start the rule engine now, with the care households of the demo
    micro-grid timed from the start of the history `feed_simulator` publishes first (not from now, which would
    leave it unjudged). A kept demo's engine goes on from its saved state."""
    if not (options.fresh and options.simulate):
        return None

    def start(engine: Engine) -> None:
        if engine.watermark is not None:  # restored from a saved state
            return
        reg = engine.registry
        now = clock.now()
        engine.start_at(now)
        households = {d.household_id for d in care_meters(reg, demo_microgrid(reg)) if d.household_id}
        engine.backdate(households, now - CARE_HISTORY_DAYS * 86_400 - 3600)

    return start


def fall_time(now: datetime) -> datetime:
    """When the demo's resident fell (`FALL_HOUR`, `FALL_AGO_H`), in `now`'s zone."""
    at = now.replace(hour=FALL_HOUR, minute=0, second=0, microsecond=0)
    while at > now - timedelta(hours=FALL_AGO_H):
        at -= timedelta(days=1)
    return at


def care_scenario(scenario: Scenario, registry: Registry, meters: list[Device]) -> Scenario:
    """`scenario` (starting now) from `CARE_HISTORY_DAYS` before to `CARE_AHEAD_DAYS` after, for the care
    meters only: their residents' ordinary days, and one of them (without quiet hours or travel, if there is
    one) silent since a fall. The messages before now are its history, the rest its live feed."""
    care = [registry.households[d.household_id] for d in meters if d.household_id]
    fallen = next((h for h in care if h.care.quiet_hours is None and h.care.away_until is None), care[0])
    start, fall = scenario.start - timedelta(days=CARE_HISTORY_DAYS), fall_time(scenario.start)
    hours = (CARE_HISTORY_DAYS + CARE_AHEAD_DAYS) * 24
    until = start + timedelta(hours=hours + 1)
    incident = IncidentSpec(
        kind="elderly_fall",
        at=fall,
        target=fallen.id,
        duration=(until - fall).total_seconds(),
        note="a lone elderly resident fell and has used no water since",
    )
    update = {"start": start, "days": 0, "hours": hours, "incidents": [incident], "incident_stream": None}
    return scenario.model_copy(update=update)


def care_windows(first: Scenario) -> Iterator[Scenario]:
    """`first` (`care_scenario`), then `CARE_AHEAD_DAYS` after another from where the last ended, without its
    incident: the watched households' ordinary days for as long as the demo runs."""
    window = first
    while True:
        yield window
        update = {"start": window.end_datetime(), "days": 0, "hours": CARE_AHEAD_DAYS * 24, "incidents": []}
        window = window.model_copy(update=update)


def care_messages(
    registry: Callable[[], Registry], first: Scenario, meters: list[str], seed: int
) -> Iterator[SimMessage]:
    """The messages of `meters` in `care_windows`, one window after another, without end. Each window has its
    own seed (like `demo_messages`), and a meter's register goes on from where the last window left it, so the
    rule engine sees one meter and its use, never a replaced one."""
    registers: dict[str, float] = {}
    for n, window in enumerate(care_windows(first)):
        reg = registry()
        yield from Simulation(reg, window, seed + n, registers).messages([m for m in meters if m in reg.devices])


def until_now(messages: Iterator[SimMessage], now: float) -> tuple[list[SimMessage], Iterator[SimMessage]]:
    """The messages of `messages` (in time order) before `now`, and the rest."""
    history: list[SimMessage] = []
    for m in messages:
        if m.ts >= now:
            return history, itertools.chain([m], messages)
        history.append(m)
    return history, iter(())


def publish_history(publisher: Publisher, history: list[SimMessage]) -> None:
    """Publish `history` in order on one connection (the rule engine learns from it in event time) and wait
    until the broker has it all, so the live feed after it never overtakes it."""
    for m in history:
        publisher.publish(m.topic, m.payload, key="care-history")
    publisher.flush()


async def feed_simulator(parts: Parts, options: DemoOptions) -> None:
    """Publish the demo scenario to the broker, window after window, paced on the service's own clock, until
    cancelled.

    The service and the simulator share one clock, so device timestamps are "now" for the ingester and the
    rule engine even when the demo runs faster than real time. A fresh demo first publishes at once the
    watched households' last days in its micro-grid (`care_scenario`): their routines are learned, and a
    lone elderly resident's no-water ticket, with its 72 h of use, is there within a minute. The service must
    have been made with `care_clocks` (`run_demo`): an engine started by that history would find every other
    device of the street silent for days."""
    clock, reg = parts.clock, parts.registry()
    scenario = load_scenario(demo_scenario_path())
    start = datetime.fromtimestamp(clock.now(), tz=UTC).astimezone(ZoneInfo(parts.settings.timezone))
    media_base = f"http://{media_host(parts.settings)}:{parts.http_port}{SNAPSHOT_PREFIX}"
    scenario = scenario.model_copy(update={"start": start.replace(microsecond=0), "media_base": media_base})
    mg = demo_microgrid(reg)
    meters = care_meters(reg, mg) if options.fresh else []
    care: Iterator[SimMessage] = iter(())
    others: list[str] | None = None  # every device
    if meters:
        ids = [d.id for d in meters]
        care = care_messages(parts.registry, care_scenario(scenario, reg, meters), ids, options.seed)
        others = sorted(set(reg.devices) - set(ids))
    publisher = Publisher(
        parts.mqtt_host, parts.mqtt_port, client_id="cwatch-demo-simulator", protocol=MQTTProtocolVersion.MQTTv311
    )
    await asyncio.to_thread(publisher.connect)
    try:
        history, rest = await asyncio.to_thread(until_now, care, clock.now())
        if history:
            await asyncio.to_thread(publish_history, publisher, history)
            log.info("demo: %d days of %d watched households' water use published", CARE_HISTORY_DAYS, len(meters))
        live = heapq.merge(demo_messages(parts.registry, scenario, options.seed, others), rest, key=lambda m: m.ts)
        async for m in paced_offloaded(live, clock):
            publisher.publish(m.topic, m.payload)
    finally:
        await asyncio.to_thread(publisher.close)
