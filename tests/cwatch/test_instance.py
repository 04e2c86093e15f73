"""One `cwatch serve` per data folder and per store (`cwatch.instance`): a second one stops at once with a message
naming what is held and by whom, on SQLite and on PostgreSQL, and claims again once the first has let go."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import make_engine
from cwatch.app import Service
from cwatch.cli import main
from cwatch.instance import (
    ADVISORY_KEY,
    AlreadyServingError,
    ClaimError,
    StoppedWaitingError,
    _AdvisoryClaim,
    file_lock,
    sole_instance,
    store_lock,
)
from cwatch.settings import load_settings
from testkit.services import free_port
from tests.cwatch.databases import empty_database


def test_a_second_claim_on_a_data_folder_names_the_holder_and_a_released_one_is_free(tmp_path: Path) -> None:
    lock = tmp_path / "data" / "serve.lock"
    with file_lock(lock, "data folder data"):
        with pytest.raises(AlreadyServingError) as e, file_lock(lock, "data folder data"):
            pass
        assert f"pid {os.getpid()} on {socket.gethostname()}" in str(e.value)
        assert "data folder data" in str(e.value)
    with file_lock(lock, "data folder data"):  # let go: free again
        pass


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def two_engines(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    """Two engines on one database, as two processes would have."""
    async with empty_database(request.param, tmp_path) as url:
        first, second = make_engine(url), make_engine(url)
        try:
            yield first, second
        finally:
            await first.dispose()
            await second.dispose()


async def test_a_store_is_served_by_one_process_at_a_time(two_engines: tuple[AsyncEngine, AsyncEngine]) -> None:
    first, second = two_engines
    async with store_lock(first):
        with pytest.raises(AlreadyServingError, match="another cwatch serve is running on database") as e:
            async with store_lock(second):
                pass
        if first.dialect.name == "postgresql":  # the server tells who holds it
            assert "server backend pid" in str(e.value)
        else:
            assert f"pid {os.getpid()}" in str(e.value)
    # the first let go while its engine (and its pooled connection) lives on: the second may claim it now
    async with store_lock(second):
        with pytest.raises(AlreadyServingError):
            async with store_lock(first):
                pass


async def test_the_data_folder_is_claimed_before_the_store(tmp_path: Path) -> None:
    """Two processes with separate stores but one data folder would share one spool."""
    a = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    b = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'b.db'}")
    try:
        async with sole_instance(tmp_path / "data", a):
            with pytest.raises(AlreadyServingError, match="data folder"):
                async with sole_instance(tmp_path / "data", b):
                    pass
    finally:
        await a.dispose()
        await b.dispose()


def test_serve_stops_with_a_message_when_another_serve_holds_the_data_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    cfg = tmp_path / "cwatch.toml"
    cfg.write_text(f'data_dir = "{data}"\n[mqtt]\nurl = "mqtt://127.0.0.1:1"\n', encoding="utf-8")
    with file_lock(data / "serve.lock", f"data folder {data}"):
        assert main(["--config", str(cfg), "serve"]) == 2
    err = capsys.readouterr().err
    assert f"cwatch: another cwatch serve is running on data folder {data} (pid {os.getpid()}" in err
    assert not (data / "cwatch.db").exists()  # stopped before it touched the store


def test_serve_refuses_a_shared_subscription(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    cfg = tmp_path / "cwatch.toml"
    cfg.write_text(
        f'data_dir = "{data}"\n[mqtt]\nurl = "mqtt://127.0.0.1:1"\nshared_group = "ingest"\n', encoding="utf-8"
    )
    assert main(["--config", str(cfg), "serve"]) == 2
    err = capsys.readouterr().err
    assert "mqtt.shared_group = 'ingest': cwatch serve must receive every message of a device" in err
    assert not (data / "serve.lock").exists()


@pytest.fixture
async def pg_engines(tmp_path: Path) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine, str]]:
    async with empty_database("postgres", tmp_path) as url:
        first, second = make_engine(url), make_engine(url)
        try:
            yield first, second, url
        finally:
            await first.dispose()
            await second.dispose()


async def _lock_holder(engine: AsyncEngine) -> int | None:
    """The server backend pid holding the serve lock on this engine's database, if any (advisory locks are per
    database: other test runs on the same server hold the same key in theirs)."""
    q = sa.text(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND (classid::bigint << 32 | objid::bigint) = :key"
    )
    async with engine.connect() as conn:
        return (await conn.execute(q, {"key": ADVISORY_KEY})).scalar()


async def _terminate(engine: AsyncEngine, pid: int) -> None:
    async with engine.connect() as conn:
        await conn.execute(sa.select(sa.func.pg_terminate_backend(pid)))
    deadline = time.monotonic() + 10
    while await _lock_holder(engine) == pid:  # the backend exits (and lets go) just after the signal
        assert time.monotonic() < deadline, "the terminated session still holds the lock"
        await asyncio.sleep(0.01)


@pytest.mark.postgres
async def test_a_standby_waits_for_the_store_and_takes_it_when_it_is_let_go(
    pg_engines: tuple[AsyncEngine, AsyncEngine, str], caplog: pytest.LogCaptureFixture
) -> None:
    first, second, _ = pg_engines
    async with contextlib.AsyncExitStack() as held:
        await held.enter_async_context(store_lock(first))
        standby = asyncio.create_task(held_until_cancelled(second))
        deadline = time.monotonic() + 10
        while "standby: another cwatch serve is running on database" not in caplog.text:
            assert time.monotonic() < deadline, caplog.text
            assert not standby.done()
            await asyncio.sleep(0.01)
        assert not standby.done()  # still waiting while the first holds it
    # the first let go: the standby claims it
    deadline = time.monotonic() + 10
    while "serving" not in caplog.text:
        assert time.monotonic() < deadline, caplog.text
        assert not standby.done(), standby
        await asyncio.sleep(0.01)
    assert await _lock_holder(first) is not None
    standby.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await standby


async def held_until_cancelled(engine: AsyncEngine) -> None:
    # `interval` also bounds each attempt to connect and claim: one timed out would be logged as "cannot claim"
    async with store_lock(engine, wait=True, interval=2.0):
        await asyncio.Event().wait()


@pytest.mark.postgres
async def test_a_lock_whose_session_died_is_taken_again_unless_another_process_took_it(
    pg_engines: tuple[AsyncEngine, AsyncEngine, str],
) -> None:
    first, second, _ = pg_engines
    async with store_lock(first, interval=3600) as claim:
        assert isinstance(claim, _AdvisoryClaim)
        old = await _lock_holder(second)
        assert old is not None
        await _terminate(second, old)  # a database restart or a cut connection ends the session
        await claim.check()  # noticed, and taken again on a new session
        new = await _lock_holder(second)
        assert new is not None
        assert new != old
        await _terminate(second, new)
        async with store_lock(second):  # a standby got in first this time
            with pytest.raises(AlreadyServingError, match="another cwatch serve"):
                await claim.check()


async def test_a_service_whose_claim_is_lost_stops_and_says_why(tmp_path: Path) -> None:
    """The serving side of a lost claim: `Service` stops its loops and `run` raises the claim's error, which the
    CLI prints (exit status 2). Driven through the hook `hold` calls, on an embedded broker."""
    cfg = tmp_path / "cwatch.toml"
    cfg.write_text(
        f'data_dir = "{tmp_path / "data"}"\n[http]\nport = 0\n[mqtt]\nembedded_port = {free_port()}\n',
        encoding="utf-8",
    )
    service = Service(load_settings(cfg, environ={}), demo_seed=1)  # the sample street as registry
    task = asyncio.create_task(service.run())
    started = asyncio.create_task(service.started.wait())
    done, _ = await asyncio.wait({task, started}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()
    assert started in done
    service._claim_lost(AlreadyServingError("another cwatch serve is running on database x"))
    with pytest.raises(AlreadyServingError, match="database x"):
        await asyncio.wait_for(task, timeout=60)


async def test_an_unreachable_store_is_a_claim_error_and_a_standby_waits_for_it_until_stopped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dead = make_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/cwatch")  # nothing listens there
    try:
        with pytest.raises(ClaimError, match="cannot claim database postgresql") as e:
            async with store_lock(dead):
                pass
        assert not isinstance(e.value, AlreadyServingError)
        stop = asyncio.Event()
        waiting = asyncio.create_task(held_until_stopped(dead, stop))
        deadline = time.monotonic() + 10
        while "standby: cannot claim database" not in caplog.text:
            assert time.monotonic() < deadline, caplog.text
            assert not waiting.done()
            await asyncio.sleep(0.01)
        stop.set()
        with pytest.raises(StoppedWaitingError):
            await asyncio.wait_for(waiting, timeout=10)
    finally:
        await dead.dispose()


async def held_until_stopped(engine: AsyncEngine, stop: asyncio.Event) -> None:
    async with store_lock(engine, wait=True, interval=0.05, stop=stop):
        await asyncio.Event().wait()


@pytest.mark.postgres
async def test_a_claim_that_cannot_be_confirmed_for_its_lease_is_given_up(
    pg_engines: tuple[AsyncEngine, AsyncEngine, str],
) -> None:
    """Cut off from the database (here: its session ended, and new connections go nowhere), the serving process
    reports the claim lost once it could not confirm it for the lease, before the server would free the lock
    for a standby."""
    first, second, _ = pg_engines
    async with store_lock(first) as claim:  # claimed with the default timeout: a loaded machine connects slowly
        assert isinstance(claim, _AdvisoryClaim)
        claim.interval, claim.lease_s = 0.05, 0.5
        real = claim.engine
        claim.engine = make_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/cwatch")
        try:
            pid = await _lock_holder(second)
            assert pid is not None
            await _terminate(second, pid)
            lost: list[ClaimError] = []
            await asyncio.wait_for(claim.hold(lost.append), timeout=30)
            assert len(lost) == 1
            assert "could not confirm this process's claim" in str(lost[0])
            assert not isinstance(lost[0], AlreadyServingError)
        finally:
            await claim.engine.dispose()
            claim.engine = real


@pytest.mark.postgres
async def test_a_claim_not_checked_for_longer_than_its_lease_is_checked_before_it_is_given_up(
    pg_engines: tuple[AsyncEngine, AsyncEngine, str],
) -> None:
    """A start-up that took longer than the lease between claiming the store and holding the claim (a district's
    registry and rule state to load, a busy machine): the first check confirms the claim, the service goes on."""
    first, _, _ = pg_engines
    async with store_lock(first) as claim:  # claimed with the default timeout: a loaded machine connects slowly
        assert isinstance(claim, _AdvisoryClaim)
        claim.interval, claim.lease_s = 1.0, 0.5
        loop = asyncio.get_running_loop()
        claim.confirmed = stale = loop.time() - 10  # claimed 10 s ago, never checked since
        lost: list[ClaimError] = []
        holding = asyncio.create_task(claim.hold(lost.append))
        try:
            deadline = loop.time() + 30
            while claim.confirmed == stale and not holding.done():
                assert loop.time() < deadline
                await asyncio.sleep(0.01)
            assert lost == []
            assert claim.confirmed > stale
        finally:
            holding.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await holding


@pytest.mark.postgres
async def test_a_reclaim_ends_this_process_s_own_earlier_session(
    pg_engines: tuple[AsyncEngine, AsyncEngine, str],
) -> None:
    """The connection was cut on our side while the server still keeps the session (and the lock): the reclaim
    recognises the session as ours by its application name, ends it and takes the lock."""
    first, second, _ = pg_engines
    async with store_lock(first) as claim:
        assert isinstance(claim, _AdvisoryClaim)
        old_pid = await _lock_holder(second)
        abandoned, claim.conn = claim.conn, None  # our side lost it; the server's session lives on
        assert abandoned is not None
        await claim.check()
        new_pid = await _lock_holder(second)
        assert new_pid is not None
        assert new_pid != old_pid
        with contextlib.suppress(Exception):
            await claim.own.run(abandoned.close())


@pytest.mark.postgres
async def test_a_standby_service_stops_on_request_while_it_waits(
    pg_engines: tuple[AsyncEngine, AsyncEngine, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first, _, url = pg_engines
    cfg = tmp_path / "cwatch.toml"
    cfg.write_text(
        f'data_dir = "{tmp_path / "data"}"\n[http]\nport = 0\n[mqtt]\nembedded_port = {free_port()}\n'
        f'[store]\nurl = "{url}"\n',
        encoding="utf-8",
    )
    async with store_lock(first):
        service = Service(load_settings(cfg, environ={}), demo_seed=1, standby=True)
        task = asyncio.create_task(service.run())
        deadline = time.monotonic() + 30
        while "standby: another cwatch serve is running on database" not in caplog.text:
            assert time.monotonic() < deadline, caplog.text
            assert not task.done()
            await asyncio.sleep(0.01)
        service.stop()  # what SIGTERM does
        await asyncio.wait_for(task, timeout=30)  # returns, without an error
        assert not service.started.is_set()


@pytest.mark.postgres
async def test_a_check_that_hangs_loses_the_claim_at_the_lease_deadline(
    pg_engines: tuple[AsyncEngine, AsyncEngine, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database that stops answering (no error, no reply): the claim is given up when the lease from the last
    confirmation runs out, not a whole round of timeouts later."""
    first, _, _ = pg_engines
    async with store_lock(first) as claim:  # claimed with the default timeout: a loaded machine connects slowly
        assert isinstance(claim, _AdvisoryClaim)
        claim.interval, claim.lease_s = 0.05, 0.5

        async def hangs() -> None:
            await asyncio.Event().wait()

        monkeypatch.setattr(claim, "_check", hangs)
        lost: list[ClaimError] = []
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(claim.hold(lost.append), timeout=10)
        assert len(lost) == 1
        assert "could not confirm this process's claim" in str(lost[0])
        assert loop.time() >= claim.confirmed + 0.5


@pytest.mark.postgres
async def test_the_claim_session_asks_the_server_to_drop_it_when_its_client_goes_silent(
    pg_engines: tuple[AsyncEngine, AsyncEngine, str],
) -> None:
    first, _, _ = pg_engines
    async with store_lock(first) as claim:
        assert isinstance(claim, _AdvisoryClaim)
        conn = claim.conn
        assert conn is not None

        async def show(name: str) -> object:  # on the claim's own thread and loop, where its session lives
            return (await conn.exec_driver_sql(f"SHOW {name}")).scalar()

        shown = {
            name: await claim.own.run(show(name))
            for name in ("tcp_keepalives_idle", "tcp_keepalives_interval", "tcp_keepalives_count", "tcp_user_timeout")
        }
        assert shown == {  # as PostgreSQL 15 shows them (seconds, a count, and milliseconds)
            "tcp_keepalives_idle": "20",
            "tcp_keepalives_interval": "5",
            "tcp_keepalives_count": "4",
            "tcp_user_timeout": "40000",
        }
        assert await claim.own.run(show("application_name")) == claim.token


def _busy(seconds: float) -> None:
    """Hold the interpreter with Python work for `seconds`, as a batch of readings or a sweep does."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


@pytest.mark.postgres
async def test_a_claim_is_confirmed_while_the_service_s_event_loop_is_too_busy_to_run_a_check(
    pg_engines: tuple[AsyncEngine, AsyncEngine, str],
) -> None:
    """Under an ingest backlog every turn of the service's event loop runs a batch of work (rules, ticket writes,
    stream frames), and a check needs several turns (BEGIN, SELECT 1, COMMIT: a reply each). Here each turn
    takes longer than a check may, for twice the lease: the database is fine, so the claim must hold."""
    first, _, _ = pg_engines
    async with store_lock(first) as claim:  # claimed with the default timeout: a loaded machine connects slowly
        assert isinstance(claim, _AdvisoryClaim)
        claim.interval, claim.lease_s = 0.5, 2.0
        lost: list[ClaimError] = []
        holding = asyncio.create_task(claim.hold(lost.append))
        loop = asyncio.get_running_loop()
        before = claim.confirmed
        end = loop.time() + 2.5 * claim.lease_s
        try:
            while loop.time() < end and not holding.done():
                _busy(2 * claim.interval)
                await asyncio.sleep(0)
            assert lost == []
            assert claim.confirmed > before  # confirmed meanwhile, not merely not yet given up
        finally:
            holding.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await holding
