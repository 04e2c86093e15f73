"""The embedded default sink: readings in one SQLite table (a row per reading), pruned after `retention_s`.

For a single community without an InfluxDB server. Same idempotency as InfluxDB: the key is (device, channel,
device time in µs), so a replayed message overwrites its row. sqlite3 runs in a worker thread so the event loop
never waits on the disk.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from core.clock import Clock, SystemClock
from devices.model import DeviceClass
from devices.payloads import Channel
from devices.reading import Reading
from ingest.sinks.base import Point, SinkUnavailable

__all__ = ["SqliteTelemetrySink"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    device_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    ts_us INTEGER NOT NULL,
    device_class TEXT NOT NULL,
    seq INTEGER,
    community_id TEXT NOT NULL,
    microgrid_id TEXT NOT NULL,
    building_id TEXT NOT NULL,
    household_id TEXT,
    fields TEXT NOT NULL,
    extra TEXT,
    received_at REAL NOT NULL,
    PRIMARY KEY (device_id, channel, ts_us)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS readings_ts ON readings (ts_us);
"""
_INSERT = "INSERT OR REPLACE INTO readings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_COLUMNS = (
    "device_id, channel, ts_us, device_class, seq, community_id, microgrid_id, building_id, household_id, "
    "fields, extra, received_at"
)


class SqliteTelemetrySink:
    """Readings in `path`; rows older than `retention_s` (device time against `clock`) are deleted at most every
    `prune_every_s` during writes, or on `prune()`."""

    def __init__(
        self,
        path: str | Path,
        retention_s: float,
        *,
        clock: Clock | None = None,
        prune_every_s: float = 60.0,
    ) -> None:
        self.path = Path(path)
        self.retention_s = retention_s
        self._clock = clock or SystemClock()
        self._prune_every_s = prune_every_s
        self._last_prune: float | None = None
        self._lock = asyncio.Lock()
        self._conn: sqlite3.Connection | None = None
        self._encode = msgspec.json.Encoder().encode

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # the spool forgets a batch once this commit returns
            conn.execute("PRAGMA busy_timeout=10000")
            conn.executescript(_SCHEMA)
            self._conn = conn
        return self._conn

    async def _run(self, fn: Any, *args: Any) -> Any:
        async with self._lock:
            try:
                return await asyncio.to_thread(fn, *args)
            except sqlite3.Error as e:
                raise SinkUnavailable(f"SQLite telemetry store {self.path}: {e}") from e

    # --- TelemetrySink --------------------------------------------------------------------------------------

    async def write(self, readings: Sequence[Reading]) -> list[tuple[Reading, str]]:
        rows: list[tuple[Any, ...]] = []
        refused: list[tuple[Reading, str]] = []
        for r in readings:
            try:
                rows.append(self._row(r))
            except (TypeError, ValueError, OverflowError, msgspec.EncodeError) as e:
                refused.append((r, f"cannot store reading: {e}"))
        now = self._clock.now()
        prune_before = None
        if self._last_prune is None or now - self._last_prune >= self._prune_every_s:
            prune_before = _us(now - self.retention_s)
            self._last_prune = now
        await self._run(self._write_rows, rows, prune_before)
        return refused

    def _row(self, r: Reading) -> tuple[Any, ...]:
        for name, v in r.fields.items():
            if isinstance(v, float) and not math.isfinite(v):
                raise ValueError(f"field {name!r} is {v!r}")  # JSON has no NaN; InfluxDB refuses it too
            if not isinstance(v, bool | int | float | str):
                raise TypeError(f"field {name!r} has unsupported type {type(v).__name__}")
        return (
            r.device_id,
            r.channel.value,
            _us(r.ts),
            r.device_class.value,
            r.seq,
            r.community_id,
            r.microgrid_id,
            r.building_id,
            r.household_id,
            self._encode(r.fields).decode(),
            self._encode(r.extra).decode() if r.extra else None,
            r.received_at,
        )

    def _write_rows(self, rows: list[tuple[Any, ...]], prune_before: int | None) -> None:
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(_INSERT, rows)
            if prune_before is not None:
                conn.execute("DELETE FROM readings WHERE ts_us < ?", (prune_before,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    async def ping(self) -> bool:
        try:
            await self._run(lambda: self._connect().execute("SELECT 1").fetchone())
        except SinkUnavailable:
            return False
        return True

    async def close(self) -> None:
        async with self._lock:
            if self._conn is not None:
                conn, self._conn = self._conn, None
                await asyncio.to_thread(conn.close)

    # --- reading back (board, tests, ops) -------------------------------------------------------------------

    async def prune(self) -> int:
        """Delete rows older than the retention now; returns how many."""
        before = _us(self._clock.now() - self.retention_s)
        self._last_prune = self._clock.now()

        def run() -> int:
            cur = self._connect().execute("DELETE FROM readings WHERE ts_us < ?", (before,))
            return cur.rowcount

        return int(await self._run(run))

    async def count(self, device_id: str | None = None) -> int:
        def run() -> int:
            conn = self._connect()
            if device_id is None:
                row = conn.execute("SELECT count(*) FROM readings").fetchone()
            else:
                row = conn.execute("SELECT count(*) FROM readings WHERE device_id = ?", (device_id,)).fetchone()
            return int(row[0])

        return int(await self._run(run))

    async def readings(
        self,
        device_id: str,
        *,
        start: float | None = None,
        end: float | None = None,
        channel: Channel | None = None,
        limit: int = 10_000,
    ) -> list[Reading]:
        """A device's readings with `start <= ts < end`, oldest first."""
        sql = f"SELECT {_COLUMNS} FROM readings WHERE device_id = ?"
        args: list[Any] = [device_id]
        if channel is not None:
            sql += " AND channel = ?"
            args.append(channel.value)
        if start is not None:
            sql += " AND ts_us >= ?"
            args.append(_us(start))
        if end is not None:
            sql += " AND ts_us < ?"
            args.append(_us(end))
        sql += " ORDER BY ts_us LIMIT ?"
        args.append(limit)

        def run() -> list[tuple[Any, ...]]:
            return self._connect().execute(sql, args).fetchall()

        rows: list[tuple[Any, ...]] = await self._run(run)
        return [_reading(row) for row in rows]

    async def values(
        self,
        measurement: str,
        device_id: str,
        fields: Sequence[str],
        start: float,
        end: float,
        *,
        limit: int = 20_000,
    ) -> list[Point]:
        """`TelemetryReader.values`: the device's numeric `fields` with `start <= ts < end`, oldest first."""
        sql = (
            "SELECT ts_us, fields FROM readings WHERE device_id = ? AND device_class = ? AND ts_us >= ? AND ts_us < ? "
            "ORDER BY ts_us LIMIT ?"
        )
        args = (device_id, measurement, _us(start), _us(end), limit)

        def run() -> list[tuple[int, str]]:
            return self._connect().execute(sql, args).fetchall()

        out: list[Point] = []
        for ts_us, text in await self._run(run):
            row = _numbers(msgspec.json.decode(text), fields)
            if row:
                out.append((ts_us / 1_000_000, row))
        return out


def _numbers(fields: dict[str, Any], wanted: Sequence[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name in wanted:
        v = fields.get(name)
        if isinstance(v, bool):
            out[name] = 1.0 if v else 0.0
        elif isinstance(v, int | float):
            out[name] = float(v)
    return out


def _us(ts: float) -> int:
    return round(ts * 1_000_000)


def _reading(row: tuple[Any, ...]) -> Reading:
    (device_id, channel, ts_us, cls, seq, community, microgrid, building, household, fields, extra, received) = row
    return Reading(
        device_id=device_id,
        device_class=DeviceClass(cls),
        channel=Channel(channel),
        ts=ts_us / 1_000_000,
        seq=seq,
        fields=msgspec.json.decode(fields),
        community_id=community,
        microgrid_id=microgrid,
        building_id=building,
        household_id=household,
        received_at=received,
        extra=msgspec.json.decode(extra) if extra else {},
    )
