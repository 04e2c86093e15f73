"""What an alert storm's tickets cost the service's event loop, measured in-process, each against a same-run
baseline.

    python -m bench.latency.storm_costs [--tickets 10000] [--changes 2000] [--calls 15]

On a fresh PostgreSQL database (127.0.0.1:5432, as `bench.latency`) with the sample street at scale 2 as registry,
`--tickets` tamper tickets are opened (one per device), then:

1. `GET /api/v1/tickets` as the street's duty account, through the route's own code and its JSON encoding: the
   default page (50) and a board's page (`?status=active&limit=500`), `--calls` times each; CPU (the process's)
   and wall time (the database's share included), the median. Baselines: the same pages shaped and encoded by
   pydantic (`ticket_out`, `TicketPageOut.model_dump_json`, as the route did before `alerts.api.rows`); the same
   calls with the list's index (`ix_tickets_order`) dropped, so the database sorts every ticket in scope.
2. The live stream's frames of `--changes` ticket changes for four boards (street, community, micro-grid leader,
   grid worker), CPU per change: as `/stream` renders them (`alerts.api.frames`: once per change, the actions per
   role), and as baseline each board rendering its own (`ticket_out`, `model_dump`, `json.dumps`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.accounts import AccountStore
from alerts.api import AlertsApi
from alerts.api.models import StatusFilter, TicketPageOut
from alerts.api.stream import _frame
from alerts.api.tickets import list_tickets
from alerts.api.views import event_out, people_names, ticket_out
from alerts.lifecycle import ACTIVE, Status
from alerts.model import Account, Ticket, TicketEvent
from alerts.service import TicketService
from alerts.stream import ChangeHub
from alerts.tables import create_tables
from core.clock import ManualClock
from core.db import make_engine
from devices.model import Level, Role
from devices.registry import Registry
from devices.sample import sample_street
from rules.alert import Alert, AlertAction, Severity
from testkit import postgres


def _ms(values: list[float]) -> str:
    return f"{1000 * statistics.median(values):.1f}"


async def _timed(call: Callable[[], Awaitable[object]], n: int) -> tuple[list[float], list[float]]:
    cpu: list[float] = []
    wall: list[float] = []
    for _ in range(3):  # warm: statements prepared, caches filled
        await call()
    for _ in range(n):
        c, w = time.process_time(), time.perf_counter()
        await call()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return cpu, wall


async def _open(service: TicketService, reg: Registry, n: int) -> None:
    devices = list(reg.devices.values())[:n]
    for i in range(0, len(devices), 1000):
        await service.apply(
            [
                Alert(
                    action=AlertAction.RAISE,
                    rule_id="device_tamper",
                    dedup_key=f"device_tamper:{d.id}",
                    severity=Severity.MAJOR,
                    ts=999_000.0 + i + k,
                    microgrid_id=reg.buildings[d.building_id].microgrid_id,
                    title="tamper",
                    device_id=d.id,
                    building_id=d.building_id,
                    details={"event": "tamper"},
                )
                for k, d in enumerate(devices[i : i + 1000])
            ]
        )


def _unshared(api: AlertsApi, viewer: Account, item: tuple[Ticket, TicketEvent]) -> str:
    """A frame as each board rendered its own: the baseline."""
    ticket, event = item
    if not api.service.can_see(viewer, ticket):
        return ""
    h = api.registry()
    out = ticket_out(h, viewer, ticket, api.service.clock.now(), people_names(h, ticket.microgrid_id))
    data = {"ticket": out.model_dump(mode="json"), "event": event_out(event).model_dump(mode="json")}
    return f"id: {event.id}\nevent: ticket\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def run(engine: AsyncEngine, tickets: int, changes: int, calls: int) -> dict[str, float]:
    reg = sample_street(1, scale=2)
    await create_tables(engine)
    clock = ManualClock(1_000_000.0)
    hub = ChangeHub()
    service = TicketService(engine, lambda: reg, clock, hub)
    api = AlertsApi(service, AccountStore(engine, clock), lambda: reg, hub)
    await _open(service, reg, tickets)
    street = Account(1, "street", Role.STREET_DUTY, next(iter(reg.streets)), "street", None)
    out: dict[str, float] = {}

    def page(status: list[StatusFilter] | None, limit: int) -> Callable[[], Awaitable[object]]:
        async def call() -> None:
            got = await list_tickets(
                api=api, viewer=street, status=status, severity=None, microgrid=None, mine=False, limit=limit
            )
            assert got.body

        return call

    def pydantic_page(status: list[StatusFilter] | None, limit: int) -> Callable[[], Awaitable[object]]:
        statuses = sorted(ACTIVE) if status else []

        async def call() -> None:
            got = await service.list_tickets(street, status=statuses, limit=limit)
            h, now = api.registry(), clock.now()
            names = {t.microgrid_id: people_names(h, t.microgrid_id) for t in got.items}
            items = [ticket_out(h, street, t, now, names[t.microgrid_id]) for t in got.items]
            TicketPageOut(items=items, next_cursor=got.next_cursor).model_dump_json()

        return call

    async with engine.begin() as conn:
        await conn.exec_driver_sql("ANALYZE tickets")
    for name, status, limit in (("page_50", None, 50), ("page_500", [StatusFilter.ACTIVE], 500)):
        cpu, wall = await _timed(pydantic_page(status, limit), calls)
        out[f"{name}_pydantic_cpu_ms"], out[f"{name}_pydantic_wall_ms"] = (
            1000 * statistics.median(cpu),
            1000 * statistics.median(wall),
        )
    for indexed in (True, False):
        if not indexed:
            async with engine.begin() as conn:
                await conn.exec_driver_sql("DROP INDEX ix_tickets_order")
                await conn.exec_driver_sql("ANALYZE tickets")
        for name, status, limit in (("page_50", None, 50), ("page_500", [StatusFilter.ACTIVE], 500)):
            cpu, wall = await _timed(page(status, limit), calls)
            tag = name if indexed else f"{name}_unindexed"
            out[f"{tag}_cpu_ms"], out[f"{tag}_wall_ms"] = 1000 * statistics.median(cpu), 1000 * statistics.median(wall)

    listed = (await service.store.page(microgrids=None, limit=changes)).items
    mg = listed[0].microgrid_id
    community = next(node for level, node in reg.chain_above(mg) if level == Level.COMMUNITY)
    boards = [
        street,
        Account(2, "community", Role.COMMUNITY_DUTY, community, "community", None),
        Account(3, "leader", Role.MICROGRID_LEADER, mg, "leader", None),
        Account(4, "worker", Role.GRID_WORKER, mg, "worker", None),
    ]
    items = [
        (t, TicketEvent(1_000_000 + n, t.id, 1.0, "system", "raise", None, Status.OPEN, None, {}))
        for n, t in enumerate(listed)
    ]
    for name, render in (("frames_shared", _frame), ("frames_per_board", _unshared)):
        c = time.process_time()
        for item in items:
            for b in boards:
                render(api, b, item)
        out[f"{name}_us_per_change"] = 1e6 * (time.process_time() - c) / len(items)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tickets", type=int, default=10_000)
    ap.add_argument("--changes", type=int, default=2_000)
    ap.add_argument("--calls", type=int, default=15)
    o = ap.parse_args(argv)
    db = postgres.create_database()
    try:

        async def go() -> dict[str, float]:
            engine = make_engine(postgres.url_for(db))
            try:
                return await run(engine, o.tickets, o.changes, o.calls)
            finally:
                await engine.dispose()

        r = asyncio.run(go())
    finally:
        postgres.drop_database(db)
    print(f"{o.tickets:,} tickets; medians of {o.calls} calls; CPU / wall ms (pydantic, unindexed: same-run baselines)")
    for name in ("page_50", "page_500"):
        print(
            f"  GET {name}: {r[f'{name}_cpu_ms']:.1f} / {r[f'{name}_wall_ms']:.1f} ms; "
            f"pydantic {r[f'{name}_pydantic_cpu_ms']:.1f} / {r[f'{name}_pydantic_wall_ms']:.1f} ms; "
            f"unindexed {r[f'{name}_unindexed_cpu_ms']:.1f} / {r[f'{name}_unindexed_wall_ms']:.1f} ms"
        )
    shared, own = r["frames_shared_us_per_change"], r["frames_per_board_us_per_change"]
    print(
        f"  stream, 4 boards: {shared:.0f} us CPU per change shared; {own:.0f} us each board its own "
        f"({own / shared:.1f}x)"
    )
    print(json.dumps(r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
