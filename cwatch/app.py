"""The composition root: builds the service from settings and runs it (docs/architecture.md describes the
builders and the order).

transport → decode → spool ─┬─ "telemetry" consumer → sink (InfluxDB / SQLite)
                            └─ "rules" consumer → rule engine → alerts → tickets → notifications / board

Everything with a lifetime (broker, stores, ingester, rule runner, escalator, HTTP server) is entered into one
`AsyncExitStack` and its loops run in one `TaskGroup`, so a failure in any part stops the whole service cleanly
instead of leaving half of it running.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import uvicorn
from prometheus_client import CollectorRegistry, Counter, Histogram
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.accounts import AccountStore
from alerts.actionlinks import ActionLinks
from alerts.api import AlertsApi
from alerts.audit import AuditLog, Who
from alerts.away import HouseholdAways
from alerts.blobs import BlobStore, FileBlobStore
from alerts.board import STATIC_DIR
from alerts.channels import build_senders
from alerts.delivery import NoticeChannel, TimelineOutcomes
from alerts.escalation import Escalator
from alerts.linkactions import LinkActions
from alerts.media import MediaPolicy, UploadLimits
from alerts.metrics import AlertsMetrics, MetricsNotifier
from alerts.notices import NOTICE_CHANNEL, OutboxNotices
from alerts.notify import LogChannel, OutboxDispatcher, WebhookChannel
from alerts.outbound import OutboundGuard
from alerts.photos import PhotoRequirement, Photos
from alerts.policies import PolicyHolder, default_policies_path
from alerts.s3blobs import S3BlobStore
from alerts.service import Notifier, TicketService
from alerts.stream import ChangeHub
from core.clock import Clock, SystemClock
from core.db import make_engine
from core.i18n import EN, ZH
from core.urls import parse_allow_entry
from cwatch import redact
from cwatch.answers import AbsenceAnswers
from cwatch.api import OpsApi
from cwatch.broker import EmbeddedBroker
from cwatch.demo_media import snapshot_route
from cwatch.errors import ServiceError, SettingsError
from cwatch.http import build_http_app
from cwatch.instance import Claim, ClaimError, StoppedWaitingError, sole_instance
from cwatch.mailbox import Mailbox, MailboxAt, mailbox_route
from cwatch.ports import check_ports, service_ports
from cwatch.settings import Settings, tile_source
from cwatch.store import audit_registry, create_all_tables, imported_unchanged
from devices.csvio import AwayBound, folder_digest, load_registry
from devices.integrity import check_away
from devices.registry import Registry
from devices.sample import sample_street
from devices.store import load_registry_db, load_registry_with_revision, registry_revision, save_registry_db
from ingest.service import Ingester
from ingest.sinks.base import TelemetryReader
from ingest.sinks.configured import make_reader
from ingest.wiring import IngestParts, ingest_parts, ingester_on
from rules.alert import Alert
from rules.config import DeviceRuleBase, RuleSet, default_ruleset_path, load_ruleset
from rules.engine import Engine
from rules.runner import RuleRunner, open_engine
from rules.state import RuleStateStore

log = logging.getLogger("cwatch.app")

#: The cycle collector's full passes come after this many passes of the middle generation (CPython's default: 10).
FULL_GC_EVERY = 100


def _audit_reload(
    engine: AsyncEngine, stack: contextlib.AsyncExitStack, what: str = "rules"
) -> Callable[[Path, str, int], None]:
    """Record each reload of the rules (or the escalation policies: `what`) in the audit log, in the background:
    the loop that reloads does not wait on the store for it. Writes still in flight at stop are awaited."""
    tasks: set[asyncio.Task[None]] = set()

    async def drain() -> None:
        await asyncio.gather(*tasks, return_exceptions=True)

    stack.push_async_callback(drain)

    async def add(path: Path, digest: str, count: int) -> None:
        try:
            await AuditLog(engine).add(
                Who("service", "file"), f"{what}.reload", str(path)[-128:], {"sha256": digest, what: count}
            )
        except Exception:  # the reload took; a lost audit row is logged, not fatal
            log.exception("could not record the %s reload of %s in the audit log", what, path)

    def on_reload(path: Path, digest: str, count: int) -> None:
        task = asyncio.get_running_loop().create_task(add(path, digest, count))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    return on_reload


def _sweep_metrics(metrics: CollectorRegistry) -> Callable[[float, int], None]:
    """The rule sweep's wall time (judging, hand-off to the tickets, state save) and its alerts, for /metrics:
    the sweep holds the rules (and, while it judges, the event loop), so its time bounds how late a reading
    or a request may be."""
    seconds = Histogram(
        "cwatch_rules_sweep_seconds",
        "Wall time of a rule sweep: judging, handing its alerts on, saving the state.",
        buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
        registry=metrics,
    )
    alerts = Counter("cwatch_rules_sweep_alerts", "Alerts the rule sweeps produced.", registry=metrics)

    def observe(took: float, raised: int) -> None:
        seconds.observe(took)
        alerts.inc(raised)

    return observe


def policies_path(settings: Settings) -> Path:
    """`rules.policies_path`, else `policies.yaml` beside the rule file when there is one, else the default."""
    if settings.rules.policies_path:
        return Path(settings.rules.policies_path)
    if settings.rules.path:
        beside = Path(settings.rules.path).with_name("policies.yaml")
        if beside.exists():
            return beside
    return default_policies_path()


def rule_groups(ruleset: RuleSet) -> set[str]:
    """The groups the rules of `ruleset` name (escalation policies may refer to them)."""
    return {r.group for r in ruleset.rules if r.group is not None}


# --- the service --------------------------------------------------------------------------------------------


@dataclass
class RegistryHolder:
    """The current registry and its revision in the store; parts that look it up at each use hold this."""

    current: Registry
    revision: int = 0

    def __call__(self) -> Registry:
        return self.current

    def replace(self, registry: Registry, revision: int, listeners: Sequence[Callable[[Registry], None]]) -> None:
        """Switch to `registry` (a CSV import in another process replaced it) and tell every listener. A
        listener that fails does not keep the others from hearing of it; then the revision stays the old one, so
        the watcher loads it again next round and tells everyone again (listeners take the same registry twice
        without harm), and the error is raised after all were told (the watcher logs it)."""
        previous = self.revision
        self.current, self.revision = registry, revision
        failed: list[Exception] = []
        for listener in listeners:
            try:
                listener(registry)
            except Exception as e:
                failed.append(e)
        if failed:
            self.revision = previous
            raise failed[0]


@dataclass
class Parts:
    """What a running service exposes to tests and to the demo."""

    settings: Settings
    engine: AsyncEngine
    registry: RegistryHolder
    metrics: CollectorRegistry
    mqtt_host: str
    mqtt_port: int
    clock: Clock
    tickets: TicketService
    accounts: AccountStore
    ingester: Ingester
    runner: RuleRunner
    answers: AbsenceAnswers
    mailbox: Mailbox | None = None
    http_port: int = 0


@dataclass(frozen=True, slots=True)
class _Wired:
    """What `Service.run` starts: the parts it shows, the ticket side's loops and the HTTP server."""

    parts: Parts
    desk: Desk
    server: uvicorn.Server


async def load_initial_registry(
    engine: AsyncEngine, settings: Settings, demo_seed: int | None, clock: Clock | None = None
) -> tuple[Registry, int]:
    """The registry to start with and its revision: `registry.path` (saved to the store, unless the store holds
    that folder's last import unchanged: then read from the store, which is faster than the CSV files), else the
    stored one, else (a demo) the sample street of `demo_seed`. The folder is checked like `cwatch registry
    import` (households held away at most `care.away_max_days` from `clock`'s now, with a reason); so is the
    stored import of it, which an earlier release may have taken unbounded: then the folder is read again."""
    clock = clock or SystemClock()
    if settings.registry.path:
        folder = Path(settings.registry.path)
        away = AwayBound(clock.now(), settings.care.away_max_days)
        try:
            digest: str | None = await asyncio.to_thread(folder_digest, folder)
        except OSError:
            digest = None  # `load_registry` says what is wrong with the folder
        stored = None
        revision = await imported_unchanged(engine, digest) if digest is not None else None
        if revision is not None:
            at, stored = await load_registry_with_revision(engine)
            stored = stored if at == revision else None  # replaced meanwhile: the folder is read after all
        if stored is not None and check_away(tuple(stored.households.values()), away):
            stored = None  # held away beyond the bound or without a reason: the folder's refusal names the line
        if stored is not None:
            reg = stored
            log.info("registry: %s unchanged since its import; read from the store", folder)
        else:
            reg = load_registry(folder, away=away)
            revision = await save_registry_db(engine, reg)
            await audit_registry(
                engine, "service", "config", folder, reg, digest=digest, revision=revision, clock=clock
            )
    else:
        stored = await load_registry_db(engine)
        if stored is None:
            if demo_seed is None:
                raise ServiceError(
                    "the store holds no registry: set registry.path or run `cwatch registry import FOLDER`"
                )
            stored = sample_street(demo_seed)
            await save_registry_db(engine, stored)
        reg = stored
        _say_unbounded_aways(reg, AwayBound(clock.now(), settings.care.away_max_days))
    return reg, await registry_revision(engine)


def _say_unbounded_aways(reg: Registry, away: AwayBound) -> None:
    """The stored registry may come from an earlier release's import, which took any `away_until`: say which
    households it holds away beyond the bound or without a reason (the service still starts: it watches more
    than these households), and how to fix it."""
    listed = tuple(reg.households.values())
    problems = check_away(listed, away)  # located as ("households", 1-based item number)
    if problems:
        households = sorted({listed[p.line - 1].id for p in problems})
        log.error(
            "registry: households held away beyond care.away_max_days or without a reason (%d), their care rules "
            "silent until then: %s; export the registry (cwatch registry export), fix away_until and away_reason, "
            "and import it again",
            len(households),
            ", ".join(households[:20]) + (" ..." if len(households) > 20 else ""),
        )


class Service:
    """The whole of cwatch in one process: `await Service(settings).run()` until `stop()`. `parts` is set once
    everything is made, `started` once it serves."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        demo_seed: int | None = None,
        on_started: Callable[[Parts], Coroutine[Any, Any, None]] | None = None,
        standby: bool = False,
        mailbox: MailboxAt | None = None,
        on_rules: Callable[[Engine], None] | None = None,
    ) -> None:
        self.settings = settings
        #: told the rule engine once opened, before anything is judged (the demo's seeded history)
        self.on_rules = on_rules
        self.standby = standby
        self.claim_lost: ClaimError | None = None
        self.clock: Clock = clock or SystemClock()
        self.demo_seed = demo_seed
        self.on_started = on_started
        self.started = asyncio.Event()
        self.parts: Parts | None = None
        #: the demo's mailbox: its mail goes there, and the board's server shows it
        self.mailbox = mailbox
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    def _claim_lost(self, error: ClaimError) -> None:
        """Another process took the store while ours was cut off from it: stop, and say why."""
        log.error("%s: stopping", error)
        self.claim_lost = error
        self.stop()

    async def run(self) -> None:
        s = self.settings
        async with contextlib.AsyncExitStack() as stack:
            _refuse_shared_subscription(s)
            # Claim the data folder and the store before touching either (`cwatch.instance`): a second serve
            # stops here (or, a standby, waits here), and two starting at once never race on CREATE TABLE.
            s.data_path.mkdir(parents=True, exist_ok=True)
            engine = make_engine(s.store_url)
            stack.push_async_callback(engine.dispose)
            try:
                claim = await stack.enter_async_context(
                    sole_instance(s.data_path, engine, wait=self.standby, stop=self._stop)
                )
            except StoppedWaitingError:
                log.info("stopped while on standby")
                return
            check_ports(service_ports(s))
            await create_all_tables(engine)
            wired = await self._wire(engine, stack)
            self.parts = wired.parts
            # What start-up made mostly lives as long as the process (the registry and its indexes, the rules'
            # state): kept out of the cycle collector, whose full passes would otherwise walk all of it, the event
            # loop stopped meanwhile (5 s for a district's 2.5 million objects; 0.5 s for what running adds). A
            # frozen object is still freed when nothing refers to it; only cycles among them stay (once).
            gc.freeze()
            # Full passes only every `FULL_GC_EVERY` young passes, not 10: each still walks what running made (in an
            # alert storm 40-70 ms of CPU, the loop's longest holds, six or more a storm; docs/performance.md).
            gc.set_threshold(*gc.get_threshold()[:2], FULL_GC_EVERY)
            try:
                await self._serve(wired, claim)
            except* _StopRequestedError:
                log.info("stopped")
        if self.claim_lost is not None:
            raise self.claim_lost

    async def _wire(self, engine: AsyncEngine, stack: contextlib.AsyncExitStack) -> _Wired:
        """Every part, each made with what it needs (constructor injection, in dependency order)."""
        s, clock = self.settings, self.clock
        wall = SystemClock()
        reg, revision = await load_initial_registry(engine, s, self.demo_seed, wall)
        holder = RegistryHolder(reg, revision)
        metrics = CollectorRegistry()
        host, port = await _broker(s, stack)
        rules = await open_rules(s, engine, reg)
        if self.on_rules is not None:
            self.on_rules(rules.engine)
        hub = ChangeHub()
        # People's answers to absence alerts go back to the rule engine (`cwatch.answers`, where the one cycle
        # between the parts is cut).
        answers = AbsenceAnswers(MetricsNotifier(hub, AlertsMetrics(metrics)), rules.engine)
        await answers.reconcile(HouseholdAways(engine, s.care.away_max_days), wall.now())
        audit_policies = _audit_reload(engine, stack, "policies")
        desk = build_desk(s, engine, holder, clock, wall, rules.ruleset, answers, self.mailbox, audit_policies)
        intake = ingest_parts(
            mqtt=s.mqtt,
            ingest=s.ingest,
            data_dir=s.data_path,
            clock=clock,
            metrics=metrics,
            broker_host=host,
            broker_port=port,
            consumers=("rules",),
        )
        runner = build_runner(s, rules, clock, desk.tickets, intake, _audit_reload(engine, stack), metrics)
        ingester = ingester_on(
            intake,
            ingest=s.ingest,
            telemetry=s.telemetry,
            data_dir=s.data_path,
            engine=engine,
            registry=holder,
            clock=clock,
            consumers={"rules": runner},
            # the demo serves its cameras' snapshots itself, from this machine (`cwatch.demo_media`)
            loopback_media=[parse_allow_entry(h) for h in s.media.hosts] if s.demo else (),
        )

        async def readiness() -> dict[str, bool]:
            return {
                **(await ingester.ready()),
                "store": await _store_ok(engine),
                "escalation": desk.escalator.healthy(),
                "rules": runner.healthy(),
            }

        telemetry = telemetry_reader(s, clock, stack)
        server = build_http(
            s, engine, holder, metrics, wall, desk, hub, answers, readiness, telemetry, self.mailbox, rules.engine
        )
        parts = Parts(
            settings=s,
            engine=engine,
            registry=holder,
            metrics=metrics,
            mqtt_host=host,
            mqtt_port=port,
            clock=clock,
            tickets=desk.tickets,
            accounts=desk.accounts,
            ingester=ingester,
            runner=runner,
            answers=answers,
            mailbox=self.mailbox.mailbox if self.mailbox is not None else None,
        )
        return _Wired(parts, desk, server)

    async def _serve(self, wired: _Wired, claim: Claim) -> None:
        """Run every loop in one task group until `stop()`; then stop them in order and raise
        `_StopRequestedError` to end the group."""
        s, parts, desk, server = self.settings, wired.parts, wired.desk, wired.server
        async with asyncio.TaskGroup() as tg:
            tg.create_task(parts.ingester.run(), name="ingester")
            tg.create_task(parts.runner.run(), name="rules")
            tg.create_task(parts.answers.run(parts.runner), name="answers")
            tg.create_task(desk.escalator.run(), name="escalator")
            tg.create_task(desk.dispatcher.run(), name="notifications")
            listeners = (parts.runner.set_registry, parts.ingester.set_registry)
            tg.create_task(self._watch_registry(parts.engine, parts.registry, listeners), name="registry-watch")
            tg.create_task(claim.hold(self._claim_lost), name="claim")
            http_task = tg.create_task(server.serve(), name="http")
            await _wait_http_started(server, http_task)
            parts.http_port = _bound_port(server) or s.http.port
            desk.notices.bound(s, parts.http_port)
            if self.on_started is not None:
                tg.create_task(self.on_started(parts), name="on-started")
            self.started.set()
            log.info("started: %s", _where(s, parts.mqtt_host, parts.mqtt_port, parts.http_port))
            await self._stop.wait()
            server.should_exit = True
            try:  # people's answers in flight reach the rule engine before it stops (they live nowhere else)
                await asyncio.wait_for(parts.answers.drain(), timeout=10)
            except TimeoutError:
                log.error("answers to absence alerts still not handed to the rule engine at stop; dropped")
            await parts.ingester.stop()
            await desk.escalator.stop()
            await desk.dispatcher.stop()
            raise _StopRequestedError

    async def _watch_registry(
        self, engine: AsyncEngine, holder: RegistryHolder, listeners: Sequence[Callable[[Registry], None]]
    ) -> None:
        """Pick up a registry replaced by another process (CSV import) without a restart; `listeners` rebuild
        what they derived from the old one."""
        while True:
            await asyncio.sleep(self.settings.registry.reload_every_s)
            try:
                rev = await registry_revision(engine)
                if rev != holder.revision:
                    reg = await load_registry_db(engine)
                    if reg is not None:
                        holder.replace(reg, rev, listeners)
                        log.info("registry revision %d loaded: %d devices", rev, len(reg.devices))
            except Exception:  # a store hiccup must not stop the service; try again next round
                log.exception("registry reload failed")


class _StopRequestedError(Exception):
    """Raised inside the task group to cancel its loops on a requested stop; `Service.run` absorbs it."""


async def run_service(settings: Settings, *, standby: bool = False) -> None:
    """`cwatch serve`: run until SIGINT/SIGTERM; `standby` waits for another serve to let go of the store instead
    of stopping."""
    await run_until_signalled(Service(settings, standby=standby))


async def run_until_signalled(service: Service) -> None:
    """Run `service` until SIGINT or SIGTERM asks it to stop."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, service.stop)
    await service.run()


# --- the parts, one builder per area -----------------------------------------------------------------------


async def _broker(s: Settings, stack: contextlib.AsyncExitStack) -> tuple[str, int]:
    """The broker's address: the configured one, or an embedded broker for demos (closed with the service)."""
    if s.mqtt.url:
        return _broker_address(s.mqtt.url)
    broker = await stack.enter_async_context(EmbeddedBroker(s.mqtt.embedded_host, s.mqtt.embedded_port))
    return broker.host, broker.port


@dataclass(frozen=True, slots=True)
class OpenedRules:
    """The rule set in force and the engine judging it, restored from its saved state after a restart."""

    path: Path
    ruleset: RuleSet
    store: RuleStateStore
    engine: Engine


async def open_rules(s: Settings, engine: AsyncEngine, registry: Registry) -> OpenedRules:
    path = Path(s.rules.path) if s.rules.path else default_ruleset_path()
    ruleset = load_ruleset(path, registry)
    store = RuleStateStore(engine)
    rule_engine = await open_engine(
        store,
        ruleset,
        registry,
        tz=s.timezone,
        allowed_lateness_s=s.rules.allowed_lateness_s,
        max_future_s=s.ingest.max_future_s,
        live_slack_s=s.rules.live_slack_s,
    )
    return OpenedRules(path, ruleset, store, rule_engine)


def build_runner(
    s: Settings,
    rules: OpenedRules,
    clock: Clock,
    tickets: TicketService,
    intake: IngestParts,
    on_reload: Callable[[Path, str, int], None],
    metrics: CollectorRegistry,
) -> RuleRunner:
    """The rule runner, handing its alerts to the tickets. Silence is judged by the clock only once the engine has
    caught up with the spool, and not while the broker connection is down or just made (its queue comes first)."""

    async def to_tickets(alerts: Sequence[Alert]) -> None:
        if alerts:
            await tickets.apply(alerts)

    spool = intake.spool

    def backlog() -> int:  # readings not judged yet: the cursor waits for the saves (`RuleRunner.durable`)
        judged = runner.judged_through
        return spool.last_offset - (judged if judged is not None else spool.position("rules"))

    runner = RuleRunner(
        rules.engine,
        rules.store,
        clock,
        to_tickets,
        sweep_every_s=s.rules.sweep_every_s,
        rules_path=rules.path,
        checkpoint_every_s=s.rules.checkpoint_every_s,
        replay_unsaved=True,
        on_reload=on_reload,
        on_sweep=_sweep_metrics(metrics),
        backlog=backlog,
        connected=lambda: intake.transport.connected,
    )
    return runner


@dataclass(frozen=True, slots=True)
class Desk:
    """The ticket side: the service, the outbox dispatcher and its notices, accounts, one-tap link actions, the
    escalation loop and its policies, and the media policy."""

    tickets: TicketService
    dispatcher: OutboxDispatcher
    notices: Notices
    accounts: AccountStore
    link_actions: LinkActions
    escalator: Escalator
    media: MediaPolicy


def build_desk(
    s: Settings,
    engine: AsyncEngine,
    holder: RegistryHolder,
    clock: Clock,
    wall: Clock,
    ruleset: RuleSet,
    notifier: Notifier,
    mailbox: MailboxAt | None,
    on_policies_reload: Callable[[Path, str, int], None] | None = None,
) -> Desk:
    """Tickets told to `notifier`, with the escalation policies of `rules.policies_path` checked against the rule
    set, the notice channels of `notify.*` and the photo rule of `media.*`. Sessions expire on the wall clock
    even when a demo runs the service faster than real time."""
    channels: dict[str, Any] = {"log": LogChannel()}
    if s.notify.webhook_url:
        channels["webhook"] = WebhookChannel(
            s.notify.webhook_url, s.notify.webhook_secret, clock=wall, guard=outbound_guard(s)
        )
    chosen = policies_path(s)
    own = chosen != default_policies_path()  # the packaged file names rules a custom set may not have
    policies = PolicyHolder(
        chosen,
        rules={r.id for r in ruleset.rules} if own else None,
        groups=rule_groups(ruleset) if own else None,
        on_reload=on_policies_reload,
    )
    log.info("escalation policies from %s: %s", policies.path, ", ".join(p.name for p in policies().policies))
    notices = build_notices(s, engine, holder, clock, wall, mailbox)
    media = media_policy(s, {r.id for r in ruleset.rules})
    tickets = TicketService(
        engine,
        holder,
        clock,
        notifier,
        channels=list(channels),
        notices=notices.sink,
        policies=policies,
        resolve_guard=PhotoRequirement(engine, media).check_resolve,
        tz=ZoneInfo(s.timezone),
    )
    dispatcher = OutboxDispatcher(engine, {**channels, **notices.channels}, wall, outcomes=notices.outcomes)
    accounts = AccountStore(engine, wall, s.auth.session_ttl_s)
    link_actions = LinkActions(tickets, notices.links, accounts.username_of_person, lang=s.language)
    escalator = Escalator(tickets, clock, policies=policies)
    return Desk(tickets, dispatcher, notices, accounts, link_actions, escalator, media)


def build_http(
    s: Settings,
    engine: AsyncEngine,
    holder: RegistryHolder,
    metrics: CollectorRegistry,
    wall: Clock,
    desk: Desk,
    hub: ChangeHub,
    answers: AbsenceAnswers,
    readiness: Callable[[], Awaitable[dict[str, bool]]],
    telemetry: TelemetryReader,
    mailbox: MailboxAt | None,
    judge: HasRuleSet,
) -> uvicorn.Server:
    """The HTTP server: `/api/v1` of `alerts`, the operations routes of `cwatch.api`, the board, /metrics and
    the health checks; with the demo's mailbox at `/demo/mailbox`."""
    app = build_http_app(
        readiness=readiness,
        metrics=metrics,
        alerts_api=AlertsApi(
            desk.tickets,
            desk.accounts,
            holder,
            hub,
            link_actions=desk.link_actions,
            media=desk.media,
            photos=build_photos(s, desk.tickets, desk.media),
            telemetry=telemetry,
            tz=ZoneInfo(s.timezone),
            tile_url=s.siteplan.tile_url or None,
            rules=lambda: rule_classes(judge.ruleset),
            rule_titles=lambda: rule_titles(judge.ruleset),
        ),
        ops_api=OpsApi(engine, holder, answers, s.care.away_max_days, wall),
        board_dir=STATIC_DIR,
        metrics_token=s.http.metrics_token,
        media_hosts=desk.media.hosts,
        image_hosts=[tile_source(s.siteplan.tile_url)] if s.siteplan.tile_url else [],
        # the demo shows what it sent, and serves its cameras' snapshots
        routes=([mailbox_route(mailbox.mailbox)] if mailbox is not None else [])
        + ([snapshot_route()] if s.demo else []),
    )
    if not s.http.metrics_token:
        log.info("/metrics is off: set http.metrics_token to scrape it")
    return uvicorn.Server(uvicorn.Config(app, host=s.http.host, port=s.http.port, log_level="warning", lifespan="off"))


class HasRuleSet(Protocol):
    """The rule engine as the API sees it: the rule set in force (hot reloads replace it)."""

    @property
    def ruleset(self) -> RuleSet: ...


def rule_classes(ruleset: RuleSet) -> dict[str, frozenset[str] | None]:
    """Each rule's id and the device classes it judges (None: any class, or a household's rule)."""
    out: dict[str, frozenset[str] | None] = {}
    for r in ruleset.rules:
        classes = r.classes() if isinstance(r, DeviceRuleBase) else None
        out[r.id] = frozenset(c.value for c in classes) if classes is not None else None
    return out


def rule_titles(ruleset: RuleSet) -> dict[str, dict[str, str]]:
    """Each rule's id and its title per language (what names it on a silence or in a report)."""
    return {r.id: {ZH: r.title.zh_cn, EN: r.title.en} for r in ruleset.rules}


# --- media and evidence -------------------------------------------------------------------------------------


def media_policy(s: Settings, rule_ids: set[str]) -> MediaPolicy:
    """The media policy of `media.*`: where camera media may come from, which tickets need a photo, upload limits."""
    m = s.media
    unknown = sorted(set(m.photo_required_rules) - rule_ids)
    if unknown:
        raise SettingsError(f"media.photo_required_rules: no rule {', '.join(unknown)} in the rule set")
    limits = UploadLimits(m.max_upload_bytes, m.max_pixels, m.max_side_px)
    return MediaPolicy.of(
        m.hosts, photo_rules=m.photo_required_rules, photo_severities=m.photo_required_severities, limits=limits
    )


def build_photos(s: Settings, tickets: TicketService, policy: MediaPolicy) -> Photos:
    """The photo store on the blob storage of `media.storage` (data_dir/media or S3)."""
    m = s.media
    blobs: BlobStore
    if m.storage == "s3":
        try:
            blobs = S3BlobStore(
                m.s3_bucket,
                endpoint=m.s3_endpoint,
                region=m.s3_region,
                access_key=m.s3_access_key,
                secret_key=m.s3_secret_key,
                prefix=m.s3_prefix,
            )
        except Exception as e:  # boto3 missing, or a malformed endpoint
            raise SettingsError(f"media.storage = 's3': {e}") from None
    else:
        blobs = FileBlobStore(s.data_path / "media")
    return Photos(tickets, blobs, policy)


def telemetry_reader(s: Settings, clock: Clock, stack: contextlib.AsyncExitStack) -> TelemetryReader:
    """A reader of the telemetry store for the evidence charts, closed with the service."""
    reader = make_reader(s.telemetry, data_dir=s.data_path, clock=clock)
    stack.push_async_callback(reader.close)
    return reader


# --- notifications ------------------------------------------------------------------------------------------


@dataclass
class Notices:
    """The notice side of the wiring: the sink tickets queue into (None: no channel is configured, so nothing
    is queued), the outbox channel that delivers them, the links and the timeline outcomes."""

    sink: Any
    channels: dict[str, Any]
    links: Any
    outcomes: Any

    def bound(self, s: Settings, http_port: int) -> None:
        """The HTTP port is known: links point at it unless `notify.public_url` says otherwise."""
        for channel in self.channels.values():
            channel.base_url = public_url(s, http_port)


def public_url(s: Settings, http_port: int | None = None) -> str:
    """Where phones open one-tap links: `notify.public_url`, else the board's own address."""
    return s.notify.public_url or f"http://{s.http.host}:{http_port or s.http.port}"


def outbound_guard(s: Settings) -> Any:
    """The address check of every URL cwatch posts to (`alerts.outbound`)."""
    return OutboundGuard(allow_private=s.notify.allow_private_targets)


def build_notices(
    s: Settings, engine: AsyncEngine, registry: RegistryHolder, clock: Clock, wall: Clock, mailbox: MailboxAt | None
) -> Notices:
    """Senders from `notify.channels` (a URL Apprise refuses stops start-up, naming the key)."""
    templates = s.notify.channels.model_dump()
    if mailbox is not None:  # the demo's mailbox receives the demo's e-mail
        templates["email"] = (
            f"mailto://127.0.0.1:{mailbox.port}?from=cwatch-demo@example.org&to={{address}}&mode=insecure"
        )
    try:
        senders = build_senders(
            templates,
            webhook_url=s.notify.webhook_url,
            webhook_secret=s.notify.webhook_secret,
            clock=wall,
            guard=outbound_guard(s),
        )
    except ValueError as e:
        raise SettingsError(str(e)) from None
    tz = ZoneInfo(s.timezone)
    links = ActionLinks(engine, s.notify.link_ttl_s)
    if not senders:
        return Notices(None, {}, links, None)
    channel = NoticeChannel(engine, registry, senders, links, clock, base_url=public_url(s), tz=tz, lang=s.language)
    log.info("notices go by %s", ", ".join(sorted(senders)))
    return Notices(OutboxNotices(), {NOTICE_CHANNEL: channel}, links, TimelineOutcomes(tz, clock))


# --- helpers ------------------------------------------------------------------------------------------------


def _refuse_shared_subscription(s: Settings) -> None:
    """The rules judge every message of a device together (a door opened then closed, a meter's register over a
    day): a shared subscription would hand each process only some of them."""
    if s.mqtt.shared_group:
        raise SettingsError(
            f"mqtt.shared_group = {s.mqtt.shared_group!r}: cwatch serve must receive every message of a device "
            "(its rules judge them together), and a shared subscription splits them between processes; leave it "
            "empty and run one cwatch serve per store (it is for ingest-only processes, `python -m cwatch.ingester`)"
        )


def _where(s: Settings, broker_host: str, broker_port: int, http_port: int) -> str:
    """What a started service works with, passwords masked: the operator's first check of a deployment."""
    if s.mqtt.url:
        broker = f"broker {redact.url(s.mqtt.url)} (client id {s.mqtt.client_id})"
    else:
        broker = f"embedded broker mqtt://{broker_host}:{broker_port} (MQTT 3.1.1, for demos)"
    t = s.telemetry
    if t.backend == "sqlite":
        telemetry = f"telemetry SQLite {s.data_path / 'telemetry.db'}"
    elif t.backend == "influx_v1":
        telemetry = f"telemetry InfluxDB {redact.url(t.influx_url)} database {t.influx_database}"
    else:
        telemetry = f"telemetry InfluxDB {redact.url(t.influx_url)} org {t.influx_org} bucket {t.influx_bucket}"
    store = f"store {redact.url(s.store_url)}"
    return f"{broker}; {telemetry}; {store}; HTTP http://{s.http.host}:{http_port}"


def _broker_address(url: str) -> tuple[str, int]:
    u = urlsplit(url)
    if u.scheme not in ("mqtt", "tcp") or not u.hostname:
        raise ServiceError(f"mqtt.url {url!r} is not mqtt://host:port")
    return u.hostname, u.port or 1883


async def _store_ok(engine: AsyncEngine) -> bool:
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


async def _wait_http_started(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    """Return once uvicorn listens; raise if it failed to start (port taken)."""
    while not server.started:
        if task.done():
            task.result()
            raise ServiceError("HTTP server stopped during start-up")
        await asyncio.sleep(0.02)


def _bound_port(server: uvicorn.Server) -> int | None:
    for srv in getattr(server, "servers", []):
        for sock in srv.sockets:
            return int(sock.getsockname()[1])
    return None


__all__ = ["Parts", "Service", "run_service", "run_until_signalled"]
