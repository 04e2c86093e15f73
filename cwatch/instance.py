"""One `cwatch serve` per store and per data folder, enforced.

A serving process keeps state that a second one would corrupt or split: the spool in `data_dir` (one writer),
the rule engine's saved state (one row), and its judgement, which needs every message of a device (a second
process would see only some of them). So `serve` claims two locks before it opens anything, and a second
`serve` stops at once with a message naming what is held and by whom, instead of both running and quietly
judging half the traffic each:

- a file lock (`flock`) on `<data_dir>/serve.lock`, which also holds the claimant's pid and host for the message;
- on PostgreSQL, a session advisory lock on the database, held by one connection for the process's life (the
  server drops it when that connection dies, so a crashed host does not hold it forever); on SQLite the store is
  a file, and a file lock next to it does the same.

The CLI's other commands (accounts, dead letters, registry import) take no lock: they are short and share the
store safely with a running service. Tables are created after the lock is held, so two processes starting at
once on an empty database no longer race on CREATE TABLE.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cwatch.errors import CwatchError

__all__ = ["ADVISORY_KEY", "AlreadyServingError", "Claim", "ClaimError", "file_lock", "sole_instance", "store_lock"]

log = logging.getLogger(__name__)

ADVISORY_KEY = 0x6377_6174_6368  # "cwatch" in ASCII: the advisory lock every `cwatch serve` takes


class ClaimError(CwatchError):
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


class Claim:
    """A held claim on the store. `hold` watches it for the process's life."""

    async def hold(self, on_lost: Callable[[ClaimError], None]) -> None:
        """Return only after calling `on_lost` (a file lock is never lost: wait forever)."""
        await asyncio.Event().wait()


class _AdvisoryClaim(Claim):
    """The PostgreSQL advisory lock, held by one connection: the server drops it when that session ends (a dead
    host, a database restart). `hold` checks the session every `interval` s; when it is gone it takes the lock
    again on a new one, and if another process took it meanwhile it reports the claim lost."""

    def __init__(self, engine: AsyncEngine, where: str, interval: float) -> None:
        self.engine, self.where, self.interval = engine, where, interval
        self.conn: AsyncConnection | None = None

    async def take(self) -> None:
        """Raises AlreadyServingError (held elsewhere) or ClaimError (database unreachable)."""
        try:
            self.conn = conn = await self.engine.connect()
        except SQLAlchemyError as e:
            raise ClaimError(f"cannot reach {self.where} to claim it: {e}") from e
        try:
            got = (await conn.execute(sa.select(sa.func.pg_try_advisory_lock(ADVISORY_KEY)))).scalar_one()
            holder = "" if got else await _advisory_holder(conn)
            await conn.commit()
        except SQLAlchemyError as e:
            await self._close()
            raise ClaimError(f"cannot claim {self.where}: {e}") from e
        if not got:
            await self._close()
            raise AlreadyServingError(
                f"another cwatch serve is running on {self.where}{holder}; one process serves a store, see "
                "docs/deployment.md"
            )

    async def hold(self, on_lost: Callable[[ClaimError], None]) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.check()
            except AlreadyServingError as e:  # another process took over while we were cut off: it serves now
                on_lost(e)
                return
            except ClaimError as e:
                log.error("%s; trying again in %.0fs", e, self.interval)

    async def check(self) -> None:
        """Make sure the lock is still ours: when its session is gone, take it again on a new one. Raises
        AlreadyServingError when another process has it now, ClaimError when the database cannot be reached."""
        if self.conn is not None:
            try:
                async with asyncio.timeout(self.interval * 2):
                    await self.conn.execute(sa.select(1))
                    await self.conn.commit()
                return  # the session lives, and the lock with it
            except (SQLAlchemyError, OSError, TimeoutError):
                await self._close()
            log.error("lost the connection that holds %s; claiming it again", self.where)
        await self.take()
        log.warning("claimed %s again", self.where)

    async def release(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):  # the pool keeps the session open: unlock before handing it back
                await self.conn.execute(sa.select(sa.func.pg_advisory_unlock(ADVISORY_KEY)))
                await self.conn.commit()
        await self._close()

    async def _close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()


@contextlib.asynccontextmanager
async def store_lock(engine: AsyncEngine, *, wait: bool = False, interval: float = 5.0) -> AsyncIterator[Claim]:
    """Hold the store for this process: an advisory lock on PostgreSQL, a file lock beside a SQLite file.
    `wait` (a standby): wait until the PostgreSQL store is free instead of raising AlreadyServingError."""
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
            await asyncio.sleep(interval)
    if said:
        log.warning("claimed %s: serving", where)
    try:
        yield claim
    finally:
        await claim.release()


async def _advisory_holder(conn: AsyncConnection) -> str:
    """`(client 10.0.0.5, backend pid 1234)` for the session holding the lock, when the server tells."""
    q = sa.text(
        "SELECT a.client_addr::text, a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.database = "
        "(SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND (l.classid::bigint << 32 | l.objid::bigint) = :key LIMIT 1"
    )
    try:
        row = (await conn.execute(q, {"key": ADVISORY_KEY})).first()
    except SQLAlchemyError:
        return ""
    if row is None:
        return ""
    addr = row[0] or "local socket"
    return f" (client {addr}, server backend pid {row[1]})"


@contextlib.asynccontextmanager
async def sole_instance(data_dir: Path, engine: AsyncEngine, *, wait: bool = False) -> AsyncIterator[Claim]:
    """Both claims, data folder first (it needs no database); raises ClaimError. `wait`: see `store_lock`."""
    with file_lock(data_dir / "serve.lock", f"data folder {data_dir}"):
        async with store_lock(engine, wait=wait) as claim:
            yield claim
