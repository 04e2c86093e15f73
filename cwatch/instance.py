"""One `cwatch serve` per store and per data folder, enforced.

A serving process keeps state that a second one would corrupt or split: the spool in `data_dir` (one writer),
the rule engine's saved state (one row), and its judgement, which needs every message of a device (a second
process would see only some of them). So `serve` claims two locks before it opens anything, and a second
`serve` stops at once with a message naming what is held and by whom, instead of both running and quietly
judging half the traffic each:

- a file lock (`flock`) on `<data_dir>/serve.lock`, which also holds the claimant's pid and host for the message;
- on PostgreSQL, a session advisory lock on the database, held by one connection for the process's life (the
  server drops it when that connection dies, so a crashed host does not hold it forever) and confirmed on a
  lease from a thread of its own, so that no load on the service's event loop can keep it from confirming; on
  SQLite the store is a file, and a file lock next to it does the same.

The CLI's other commands (accounts, dead letters, registry import) take no lock: they are short and share the
store safely with a running service. Tables are created after the lock is held, so two processes starting at
once on an empty database no longer race on CREATE TABLE.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from cwatch.errors import ServiceError

__all__ = [
    "ADVISORY_KEY",
    "LEASE_S",
    "AlreadyServingError",
    "Claim",
    "ClaimError",
    "StoppedWaitingError",
    "file_lock",
    "sole_instance",
    "store_lock",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

ADVISORY_KEY = 0x6377_6174_6368  # "cwatch" in ASCII: the advisory lock every `cwatch serve` takes


class ClaimError(ServiceError):
    """The data folder or the store could not be claimed for this process."""


class AlreadyServingError(ClaimError):
    """Another `cwatch serve` holds the data folder or the store."""


@contextlib.contextmanager
def file_lock(path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive `flock` on `path` (created if missing) and write our pid and host into it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
            raise AlreadyServingError(
                f"another cwatch serve is running on {what} ({holder}; lock file {path}); one process serves a "
                "store and a data folder, see docs/deployment.md"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


LEASE_S = 12.0
"""A serving process that cannot confirm its PostgreSQL claim for this long stops (a fixed deadline from the last
confirmation): the server frees the lock of a silent session only after `KEEPALIVE` (40 s), which leaves the
serving process 28 s to stop (it waits up to 10 s for answers in flight) before a standby could claim."""

KEEPALIVE = {
    "tcp_keepalives_idle": "20",
    "tcp_keepalives_interval": "5",
    "tcp_keepalives_count": "4",
    "tcp_user_timeout": "40000",  # ms; keepalive probes do not run while sent data waits for its ACK
}
"""Set on the claim's session: the server drops a client that stopped answering after 20 + 4 * 5 = 40 s, and its
lock with it (the default would be about two hours of TCP keepalive)."""


class Claim:
    """A held claim on the store. `hold` watches it for the process's life."""

    async def hold(self, on_lost: Callable[[ClaimError], None]) -> None:
        """Return only after calling `on_lost` (a file lock is never lost: wait forever)."""
        await asyncio.Event().wait()


class StoppedWaitingError(ClaimError):
    """A standby was asked to stop while it waited for the store."""


class _ClaimLoop:
    """An event loop in a daemon thread of its own, where the claim's session lives and is checked.

    The service's event loop cannot be trusted with the lease: under an ingest backlog each of its turns runs a
    batch of work (rule batches, a sweep, ticket writes, stream frames) that can take seconds on a busy machine,
    and a check needs several turns (BEGIN, SELECT 1, COMMIT: one reply each): there, a healthy database would
    look unreachable and the service would stop itself. Here a check needs only the interpreter lock, which a
    busy thread yields every few milliseconds (`sys.getswitchinterval`)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="cwatch-claim", daemon=True)
        self.thread.start()

    async def run(self, coro: Coroutine[object, object, T]) -> T:
        """Run `coro` on the claim's loop and wait for it here; cancelling the wait cancels it there."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


class _AdvisoryClaim(Claim):
    """The PostgreSQL advisory lock, held by one session of an engine of its own (no pool: closing the
    connection ends the session, and the lock with it), on a thread and event loop of its own (`_ClaimLoop`).
    `hold` checks the session every `interval` s; when the session is gone it claims the lock again on a new one;
    it reports the claim lost when another process holds it now, or when it could not confirm it for `lease_s`.
    The public coroutines may be awaited from any event loop; the `_` ones run on the claim's."""

    def __init__(self, engine: AsyncEngine, where: str, interval: float, lease_s: float = LEASE_S) -> None:
        self.token = f"cwatch serve {uuid.uuid4().hex[:16]}"  # our sessions' application_name
        settings = {"application_name": self.token, **KEEPALIVE}
        self.engine = create_async_engine(engine.url, poolclass=NullPool, connect_args={"server_settings": settings})
        self.where, self.interval, self.lease_s = where, interval, lease_s
        self.conn: AsyncConnection | None = None
        self.confirmed = 0.0  # time.monotonic() (any event loop's time) of the last confirmation
        self.own = _ClaimLoop()
        self.watching: asyncio.Task[object] | None = None  # `_watch`, on the claim's loop

    async def take(self) -> None:
        """Raises AlreadyServingError (held elsewhere) or ClaimError (database unreachable or too slow)."""
        await self.own.run(self._take())

    async def hold(self, on_lost: Callable[[ClaimError], None]) -> None:
        on_lost(await self.own.run(self._watch()))

    async def check(self) -> None:
        """Make sure the lock is still ours: when its session is gone, take it again on a new one. Raises
        AlreadyServingError when another process has it now, ClaimError when the database cannot be reached."""
        await self.own.run(self._check())

    async def release(self) -> None:
        try:
            await self.own.run(self._release())
        finally:
            self.own.close()

    async def _take(self) -> None:
        # a first claim opens a new engine's first connection on this thread's loop: on a loaded machine that
        # outlasts a short check interval, so it gets the lease's time (a claim not had within it is not had)
        try:
            async with asyncio.timeout(max(self.interval, self.lease_s)):
                got, holder = await self._lock()
        except (SQLAlchemyError, OSError, TimeoutError) as e:
            await self._close()
            raise ClaimError(f"cannot claim {self.where}: {type(e).__name__}: {e}") from e
        if not got:
            await self._close()
            raise AlreadyServingError(
                f"another cwatch serve is running on {self.where}{holder.described()}; one process serves a store, "
                "see docs/deployment.md"
            )
        self.confirmed = time.monotonic()

    async def _lock(self) -> tuple[bool, _Holder]:
        self.conn = conn = await self.engine.connect()
        got = await _try_lock(conn)
        holder = _Holder()
        if not got:
            holder = await _advisory_holder(conn)
            if holder.application == self.token and holder.pid is not None:
                # our own earlier session, cut off from us but not yet from the server: end it and take over
                log.warning(
                    "ending this process's earlier session (server backend pid %d) on %s", holder.pid, self.where
                )
                await conn.execute(sa.select(sa.func.pg_terminate_backend(holder.pid)))
                await conn.commit()
                while not got:  # the backend lets go as it exits (bounded by the caller's timeout)
                    await asyncio.sleep(0.05)
                    got = await _try_lock(conn)
        await conn.commit()
        return got, holder

    async def _watch(self) -> ClaimError:
        """Check the claim until it is lost; returns why."""
        self.watching = asyncio.current_task()
        loop = asyncio.get_running_loop()
        while True:
            deadline = self.confirmed + self.lease_s  # only `_take` moves `confirmed`
            await asyncio.sleep(max(0.0, min(self.interval, deadline - loop.time())))
            # A check that hangs must not outlast the lease. One that could not even start before the deadline (a
            # long start-up between `take` and `hold`) still gets `interval` to answer: only our own live session
            # answers it, so it proves the lock is ours as well as a timely one would.
            until = deadline if loop.time() < deadline else loop.time() + self.interval
            try:
                async with asyncio.timeout_at(until):
                    await self._check()
            except AlreadyServingError as e:  # another process took over while we were cut off: it serves now
                return e
            except (ClaimError, TimeoutError) as e:
                unconfirmed = loop.time() - self.confirmed
                if loop.time() >= deadline:
                    why = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
                    return ClaimError(
                        f"could not confirm this process's claim on {self.where} for {unconfirmed:.0f}s ({why}); "
                        "stopping, so that a standby may serve"
                    )
                log.error("%s; trying again in %.0fs", e, self.interval)

    async def _check(self) -> None:
        if self.conn is not None:
            try:
                async with asyncio.timeout(self.interval):
                    await self.conn.execute(sa.select(1))
                    await self.conn.commit()
                self.confirmed = time.monotonic()
                return  # the session lives, and the lock with it
            except (SQLAlchemyError, OSError, TimeoutError):
                await self._close()
            log.error("lost the connection that holds %s; claiming it again", self.where)
        await self._take()
        log.warning("claimed %s again", self.where)

    async def _release(self) -> None:
        if self.watching is not None:  # the service's side stopped waiting for it; make sure it is done
            self.watching.cancel()
            with contextlib.suppress(BaseException):
                await self.watching
        if self.conn is not None:
            with contextlib.suppress(Exception):  # closing ends the session anyway; unlock for a clean log
                await self.conn.execute(sa.select(sa.func.pg_advisory_unlock(ADVISORY_KEY)))
                await self.conn.commit()
        await self._close()
        await self.engine.dispose()

    async def _close(self) -> None:
        """Close the session; one whose query was cut short may not close cleanly: drop it then."""
        conn, self.conn = self.conn, None
        if conn is None:
            return
        try:
            async with asyncio.timeout(self.interval):
                await conn.close()
        except Exception:
            with contextlib.suppress(Exception):
                await conn.invalidate()


@contextlib.asynccontextmanager
async def store_lock(
    engine: AsyncEngine, *, wait: bool = False, interval: float = 5.0, stop: asyncio.Event | None = None
) -> AsyncIterator[Claim]:
    """Hold the store for this process: an advisory lock on PostgreSQL, a file lock beside a SQLite file.
    `wait` (a standby): wait until the PostgreSQL store is free (and reachable) instead of raising; `stop` ends
    the wait with StoppedWaitingError."""
    url = engine.url
    where = f"database {url.render_as_string(hide_password=True)}"
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            with file_lock(Path(f"{url.database}.serve-lock"), where):
                yield Claim()
        else:
            yield Claim()
        return
    if url.get_backend_name() != "postgresql":
        yield Claim()
        return
    claim = _AdvisoryClaim(engine, where, interval)
    said = False
    try:
        while True:
            try:
                await claim.take()
                break
            except ClaimError as e:
                if not wait:
                    raise
                if not said:
                    log.warning("standby: %s; waiting for it", e)
                    said = True
            if stop is None:
                await asyncio.sleep(interval)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval)
                if stop.is_set():
                    raise StoppedWaitingError(f"stopped while waiting for {where}")
        if said:
            log.warning("claimed %s: serving", where)
        yield claim
    finally:
        await claim.release()


@dataclasses.dataclass(frozen=True)
class _Holder:
    """Who holds the lock, as far as the server tells."""

    pid: int | None = None
    address: str | None = None
    application: str | None = None

    def described(self) -> str:
        if self.pid is None:
            return ""
        return f" (client {self.address or 'local socket'}, server backend pid {self.pid})"


async def _try_lock(conn: AsyncConnection) -> bool:
    return bool((await conn.execute(sa.select(sa.func.pg_try_advisory_lock(ADVISORY_KEY)))).scalar_one())


async def _advisory_holder(conn: AsyncConnection) -> _Holder:
    q = sa.text(
        "SELECT a.pid, host(a.client_addr), a.application_name FROM pg_locks l "
        "JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.database = "
        "(SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND (l.classid::bigint << 32 | l.objid::bigint) = :key LIMIT 1"
    )
    row = (await conn.execute(q, {"key": ADVISORY_KEY})).first()
    return _Holder() if row is None else _Holder(int(row[0]), row[1], row[2])


@contextlib.asynccontextmanager
async def sole_instance(
    data_dir: Path, engine: AsyncEngine, *, wait: bool = False, stop: asyncio.Event | None = None
) -> AsyncIterator[Claim]:
    """Both claims, data folder first (it needs no database); raises ClaimError. `wait`, `stop`: see
    `store_lock`."""
    with file_lock(data_dir / "serve.lock", f"data folder {data_dir}"):
        async with store_lock(engine, wait=wait, stop=stop) as claim:
            yield claim
