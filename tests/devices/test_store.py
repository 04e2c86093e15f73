from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import make_engine
from devices.errors import DevicesError, RegistryError, RegistryStoreError
from devices.sample import sample_street
from devices.store import (
    DEVICES,
    create_tables,
    load_registry_db,
    load_registry_with_revision,
    registry_revision,
    save_registry_db,
)
from tests.devices.factory import tiny


@pytest.fixture
async def engine(store_url: str) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(store_url)
    await create_tables(eng)
    yield eng
    await eng.dispose()


async def test_empty_store(engine: AsyncEngine) -> None:
    assert await registry_revision(engine) == 0
    assert await load_registry_db(engine) is None
    await create_tables(engine)  # idempotent, keeps the revision
    assert await registry_revision(engine) == 0


async def test_round_trip_and_revision(engine: AsyncEngine) -> None:
    reg = tiny()
    assert await save_registry_db(engine, reg) == 1
    assert await registry_revision(engine) == 1
    back = await load_registry_db(engine)
    assert back == reg
    assert back is not None
    assert list(back.devices) == list(reg.devices)  # input order kept
    assert back.households["h1"].care.emergency_contacts[0].name == "王伟"
    smaller = reg.with_changes(remove=["SD-2", "WM-3", "h3"])
    assert await save_registry_db(engine, smaller) == 2
    assert await load_registry_with_revision(engine) == (2, smaller)


async def test_sample_street_round_trip(engine: AsyncEngine) -> None:
    reg = sample_street(1, start=date(2026, 3, 1), days=7)
    await save_registry_db(engine, reg)
    assert await load_registry_db(engine) == reg


async def test_concurrent_saves_serialise(engine: AsyncEngine) -> None:
    a = tiny()
    b = a.with_changes(remove=["SD-2"])
    revisions = await asyncio.gather(*(save_registry_db(engine, r) for r in (a, b, a, b)))
    assert sorted(revisions) == [1, 2, 3, 4]
    assert await load_registry_db(engine) in (a, b)


async def test_inconsistent_rows_refused(engine: AsyncEngine) -> None:
    await save_registry_db(engine, tiny())
    async with engine.begin() as conn:
        await conn.execute(update(DEVICES).where(DEVICES.c.id == "WM-1").values(building_id="gone"))
    with pytest.raises(RegistryError) as info:
        await load_registry_db(engine)
    # WM-1 (position 0) now names a building that does not exist, and its household is elsewhere
    assert {(p.file, p.line, p.column) for p in info.value.problems} == {
        ("devices_devices", 0, "building_id"),
        ("devices_devices", 0, "household_id"),
    }
    async with engine.begin() as conn:
        await conn.execute(update(DEVICES).where(DEVICES.c.id == "WM-1").values(device_class="toaster"))
    with pytest.raises(RegistryStoreError):
        await load_registry_db(engine)


async def test_missing_tables(tmp_path: object) -> None:
    eng = make_engine(f"sqlite+aiosqlite:///{tmp_path}/none.db")
    try:
        with pytest.raises(RegistryStoreError):
            await registry_revision(eng)
        with pytest.raises(RegistryStoreError):
            await save_registry_db(eng, tiny())
    finally:
        await eng.dispose()


async def test_unreachable_database() -> None:
    eng = make_engine("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere", connect_args={"timeout": 2})
    try:
        with pytest.raises(DevicesError):
            await registry_revision(eng)
    finally:
        await eng.dispose()


async def test_reads_never_mix_two_saves(engine: AsyncEngine) -> None:
    """Saves alternate two registries (odd revisions: a, even: b) while readers load: every registry read must
    be whole and match the revision it was read with."""
    a = tiny()
    b = a.with_changes(remove=["SD-2", "WM-3", "h3", "AC-1"])
    done = asyncio.Event()
    seen: list[tuple[int, bool]] = []

    async def writer() -> None:
        for i in range(12):
            await save_registry_db(engine, a if i % 2 == 0 else b)
        done.set()

    async def reader() -> None:
        while not done.is_set():
            try:
                rev, reg = await load_registry_with_revision(engine)
            except RegistryStoreError:
                continue  # saves kept racing this read; it said so instead of mixing them
            if rev:
                seen.append((rev, reg == (a if rev % 2 == 1 else b)))
            await asyncio.sleep(0)

    await asyncio.gather(writer(), reader(), reader())
    assert seen
    assert all(ok for _, ok in seen), seen
