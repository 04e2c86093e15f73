"""The monthly report over a year of a street: >= 100k tickets with their escalations, on SQLite and (when it
is reachable) PostgreSQL. Times `GET /api/v1/reports`' work (the query and the roll-up, `viewer_report`) for the
street's year, a community's month and a micro-grid leader's month; the target is p95 <= 1 s.

Baseline, same run and store: one pass over the year's tickets summing a column (`SELECT count(*),
sum(created_at) ... WHERE created_at >= ...`), so the figures read as a multiple of the cheapest full pass.

    python -m bench.reports [--tickets 100000] [--runs 20] [--quick] [--no-postgres]"""

from __future__ import annotations

import argparse
import asyncio
import functools
import random
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.model import SEVERITY_RANK, Account
from alerts.reporting import viewer_report
from alerts.reports import parse_period
from alerts.service import TicketService
from alerts.tables import create_tables, ticket_events, tickets
from core.clock import ManualClock
from core.db import make_engine
from devices.model import Role
from devices.registry import Registry
from devices.sample import sample_street
from rules.alert import Severity

TZ = ZoneInfo("Asia/Shanghai")
YEAR = (date(2025, 12, 1), date(2026, 11, 30))
PG = "postgresql://postgres@127.0.0.1:5432/postgres"
RULES = [
    ("device_offline", Severity.MINOR),
    ("smoke_alarm", Severity.CRITICAL),
    ("door_held_open", Severity.MINOR),
    ("elderly_no_water", Severity.MAJOR),
    ("fire_lane_blocked", Severity.MAJOR),
    ("thrown_object", Severity.MAJOR),
    ("ebike_in_lift", Severity.MAJOR),
    ("water_leak", Severity.WARNING),
]


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


async def fill(engine: AsyncEngine, reg: Registry, n: int, seed: int = 7) -> None:
    """`n` tickets spread over the year and the street: most acknowledged and resolved, 15% escalated for a
    late acknowledgement, 10% for a late resolution, a few still open, a third rated."""
    rnd = random.Random(seed)
    start = datetime(YEAR[0].year, YEAR[0].month, YEAR[0].day, tzinfo=TZ).timestamp()
    span = (datetime(2026, 12, 1, tzinfo=TZ).timestamp() - start) - 86_400
    mgs = list(reg.microgrids.values())
    grid_of = {g.id: g.community_id for g in reg.grids.values()}
    rows, events = [], []
    for i in range(1, n + 1):
        mg = rnd.choice(mgs)
        rule, sev = rnd.choice(RULES)
        created = start + rnd.random() * span
        late_ack, late_res, still_open = rnd.random() < 0.15, rnd.random() < 0.10, rnd.random() < 0.02
        acked = created + (rnd.uniform(900, 3600) if late_ack else rnd.uniform(30, 600))
        resolved = None if still_open else acked + rnd.uniform(600, 20_000 if late_res else 7200)
        rows.append(
            {
                "id": i,
                "dedup_key": f"{rule}:{i}",
                "rule_id": rule,
                "severity": sev.value,
                "severity_rank": SEVERITY_RANK[sev],
                "status": "open" if still_open else "resolved",
                "active": still_open,
                "title": rule,
                "details": {},
                "microgrid_id": mg.id,
                "community_id": grid_of.get(mg.grid_id),
                "escalation_level": int(late_ack) + int(late_res),
                "count": 1,
                "first_seen": created,
                "last_seen": created,
                "acknowledged_at": acked,
                "resolved_at": resolved,
                "resolved_by": None if resolved is None else "worker",
                "rating": rnd.randint(3, 5) if resolved is not None and rnd.random() < 0.33 else None,
                "created_at": created,
                "updated_at": resolved or acked,
                "version": 3,
                "cleared": False,
                "verifying": False,
            }
        )
        events.append({"ticket_id": i, "at": created, "actor": "system", "action": "create", "data": {}})
        for reason, late in (("ack", late_ack), ("resolve", late_res)):
            if late:
                events.append(
                    {"ticket_id": i, "at": created, "actor": "system", "action": "escalate", "data": {"reason": reason}}
                )
    async with engine.begin() as conn:
        for k in range(0, len(rows), 5000):
            await conn.execute(insert(tickets), rows[k : k + 5000])
        for k in range(0, len(events), 5000):
            await conn.execute(insert(ticket_events), events[k : k + 5000])


async def timed(runs: int, call: Callable[[], Awaitable[object]]) -> list[float]:
    await call()  # warm the caches and the plan
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        await call()
        out.append(time.perf_counter() - t0)
    return out


async def bench_store(label: str, url: str, n: int, runs: int) -> list[str]:
    engine = make_engine(url)
    reg = sample_street(1)
    try:
        await create_tables(engine)
        t0 = time.perf_counter()
        await fill(engine, reg, n)
        loaded = time.perf_counter() - t0
        if engine.dialect.name == "postgresql":
            async with engine.begin() as conn:
                await conn.execute(text("ANALYZE"))
        service = TicketService(engine, lambda: reg, ManualClock(datetime(2026, 12, 6, tzinfo=TZ).timestamp()))
        street = next(iter(reg.streets.values()))
        community = next(iter(reg.communities.values()))
        mg = next(iter(reg.microgrids.values()))
        year = parse_period(None, YEAR[0].isoformat(), YEAR[1].isoformat(), TZ, date(2026, 12, 6))
        month = parse_period("2026-11", None, None, TZ, date(2026, 12, 6))
        cases = [
            ("street, a year, by community", Account(1, "s", Role.STREET_DUTY, street.id, "s", None), year),
            ("community, a month, by grid", Account(2, "c", Role.COMMUNITY_DUTY, community.id, "c", None), month),
            ("leader, a month", Account(3, "l", Role.MICROGRID_LEADER, mg.id, "l", None), month),
        ]

        async def count() -> object:
            q = select(func.count(), func.sum(tickets.c.created_at)).where(tickets.c.created_at >= year.start)
            async with engine.connect() as conn:
                return (await conn.execute(q)).one()

        base = await timed(runs, count)
        lines = [f"{label}: {n} tickets loaded in {loaded:.1f} s"]
        lines.append(
            f"  {'baseline: one pass, count and sum':<34} p50 {pct(base, 50) * 1000:7.1f} ms  "
            f"p95 {pct(base, 95) * 1000:7.1f} ms"
        )
        for name, viewer, period in cases:
            report = await viewer_report(service, viewer, period, None, None)
            xs = await timed(runs, functools.partial(viewer_report, service, viewer, period, None, None))
            lines.append(
                f"  {name:<34} p50 {pct(xs, 50) * 1000:7.1f} ms  p95 {pct(xs, 95) * 1000:7.1f} ms  "
                f"({pct(xs, 95) / pct(base, 95):.1f}x baseline; {report.totals.tickets} tickets)"
            )
        return lines
    finally:
        await engine.dispose()


async def run(n: int, runs: int, postgres: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for line in await bench_store("SQLite", f"sqlite+aiosqlite:///{Path(tmp) / 'r.db'}", n, runs):
            print(line, flush=True)
    if not postgres:
        return
    name = f"cwatch_bench_reports_{uuid.uuid4().hex[:8]}"
    try:
        conn = await asyncpg.connect(PG, timeout=5)
    except (OSError, asyncpg.PostgresError) as e:
        print(f"PostgreSQL: not reachable at {PG} ({e}); skipped")
        return
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
        url = PG.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + "/" + name
        for line in await bench_store("PostgreSQL", url, n, runs):
            print(line, flush=True)
    finally:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.reports", description=__doc__.splitlines()[0])
    ap.add_argument("--tickets", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--quick", action="store_true", help="10k tickets, 5 runs")
    ap.add_argument("--no-postgres", action="store_true")
    args = ap.parse_args()
    n, runs = (10_000, 5) if args.quick else (args.tickets, args.runs)
    print(f"bench.reports: {n} tickets over a year of the sample street; {runs} runs each; target p95 <= 1 s")
    asyncio.run(run(n, runs, not args.no_postgres))
    return 0
