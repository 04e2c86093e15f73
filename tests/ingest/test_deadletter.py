"""Dead letters on SQLite and PostgreSQL: recorded with their reason, listed newest first, counted, bounded,
and still there after the engine is closed and reopened (a restart)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import make_engine
from ingest.deadletter import PAYLOAD_TEXT_MAX, DeadLetters, NewDeadLetter, create_tables
from ingest.refusals import RefusalReason


@pytest.fixture
async def engine(store_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(store_url)
    await create_tables(engine)
    yield engine
    await engine.dispose()


async def test_add_list_and_count(engine: AsyncEngine) -> None:
    dl = DeadLetters(engine)
    await dl.add("cw/c1/SD-1/telemetry", b"{oops", RefusalReason.MALFORMED_JSON, "Invalid JSON", 100.0)
    await dl.add_many(
        [
            NewDeadLetter("cw/c1/SD-1/telemetry", b'{"ts": 1, "x": 1}', RefusalReason.UNKNOWN_FIELD, "x", 101.0),
            ("cw/c9/XX/telemetry", b"{}", RefusalReason.UNKNOWN_DEVICE, "device 'XX' is not registered", 102.0),
            ("cw/c1/SD-1/telemetry", b"\xff\xfe junk", "malformed_json", "Invalid JSON", 103.0),
        ]
    )
    rows = await dl.list()
    assert [r.received_at for r in rows] == [103.0, 102.0, 101.0, 100.0]
    newest = rows[0]
    assert newest.reason is RefusalReason.MALFORMED_JSON
    assert newest.payload == b"\xff\xfe junk"
    assert newest.payload_text == "\ufffd\ufffd junk"
    assert newest.topic == "cw/c1/SD-1/telemetry"
    assert await dl.counts() == {"malformed_json": 2, "unknown_field": 1, "unknown_device": 1}
    only = await dl.list(reason=RefusalReason.UNKNOWN_DEVICE)
    assert [r.detail for r in only] == ["device 'XX' is not registered"]
    assert len(await dl.list(limit=2)) == 2


async def test_table_is_bounded_oldest_first(engine: AsyncEngine) -> None:
    dl = DeadLetters(engine, max_rows=5)
    for i in range(8):
        await dl.add("t", f"p{i}".encode(), RefusalReason.INVALID_PAYLOAD, "d", float(i))
    await dl.add_many([("t", f"q{i}".encode(), RefusalReason.TS_PAST, "d", 10.0 + i) for i in range(3)])
    rows = await dl.list()
    assert [r.payload for r in rows] == [b"q2", b"q1", b"q0", b"p7", b"p6"]
    assert sum((await dl.counts()).values()) == 5


async def test_large_payloads_are_cut_but_their_size_kept(engine: AsyncEngine) -> None:
    dl = DeadLetters(engine, max_payload_bytes=1000)
    await dl.add("t", b"x" * 100_000, RefusalReason.TOO_LARGE, "payload is 100000 bytes", 1.0)
    (row,) = await dl.list()
    assert row.payload == b"x" * 1000
    assert row.payload_size == 100_000
    assert len(row.payload_text) <= PAYLOAD_TEXT_MAX + 1


async def test_dead_letters_survive_a_restart(store_url: str) -> None:
    first = make_engine(store_url)
    await create_tables(first)
    await DeadLetters(first).add("t", b"{", RefusalReason.MALFORMED_JSON, "d", 1.0)
    await first.dispose()
    second = make_engine(store_url)
    try:
        await create_tables(second)  # idempotent
        dl = DeadLetters(second)
        assert await dl.counts() == {"malformed_json": 1}
        assert await dl.clear() == 1
        assert await dl.list() == []
    finally:
        await second.dispose()


def numbered(ids: range, spool: str = "") -> list[tuple[int, NewDeadLetter]]:
    """Rows as spool `spool` numbers them; the spool's name is their detail."""
    return [(i, NewDeadLetter(f"cw/c1/d{i}", b"{", RefusalReason.MALFORMED_JSON, spool, float(i))) for i in ids]


async def test_add_once_stores_each_numbered_row_of_a_spool_once(engine: AsyncEngine) -> None:
    """What a spool numbered is stored once however often it is offered (a mover that crashed before deleting
    its rows from the spool, or a commit whose answer was lost, offers them again); spools are told apart."""
    dl = DeadLetters(engine)
    assert await dl.add_once("A", numbered(range(1, 4), "A")) == 3
    assert await dl.add_once("A", numbered(range(1, 4), "A")) == 0  # again, after a crash: nothing
    assert await dl.add_once("A", numbered(range(2, 6), "A")) == 2  # overlapping: only 4 and 5
    assert await dl.add_once("B", numbered(range(1, 3), "B")) == 2  # another spool counts from 1 too
    assert await dl.add_once("A", []) == 0
    rows = await dl.list(limit=100)
    assert sorted((r.detail, r.received_at) for r in rows) == [
        ("A", 1.0),
        ("A", 2.0),
        ("A", 3.0),
        ("A", 4.0),
        ("A", 5.0),
        ("B", 1.0),
        ("B", 2.0),
    ]


async def test_add_once_keeps_the_original_size_of_a_payload_cut_before(engine: AsyncEngine) -> None:
    dl = DeadLetters(engine, max_payload_bytes=10)
    row = NewDeadLetter("t", b"x" * 50, RefusalReason.TOO_LARGE, "big", 1.0, payload_size=70_000)
    await dl.add_once("A", [(1, row)])
    (stored,) = await dl.list()
    assert (stored.payload, stored.payload_size) == (b"x" * 10, 70_000)
