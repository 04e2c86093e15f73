"""The durable spool: an append-only log of accepted readings between decoding and the databases.

A message is acknowledged to the broker (PUBACK) only after it is in this log, so the log — not the broker,
not InfluxDB — is what makes ingest at-least-once: InfluxDB may be down for an hour and nothing is lost, and
memory stays bounded because readings wait on disk, not in queues.

Storage: one SQLite file in WAL mode with `synchronous=FULL` (a committed append survives a power cut). Each
`append` is one transaction that writes one row per batch (msgpack of the readings, via msgspec). Readings get
consecutive offsets; a batch row covers `first..last`. Named consumers ("telemetry", "rules") each keep a
persistent cursor — the last offset they finished — and `truncate()` drops batches that every consumer has
passed, except the newest `dedup_window` readings.

Duplicate detection is a bounded window: the (device_id, seq) pairs of the last `dedup_window` readings are
remembered in memory, and rebuilt from those retained batches when the spool is opened, so a message redelivered
after a crash is still recognised. A pair seen again with the *same* device timestamp is a duplicate (a broker
redelivery or a device retry); the same seq with a different timestamp is a device that restarted its counter,
and is stored. (A separate indexed table of pairs tripled the cost of an append; the batches are there anyway.)

The newest batches are also kept in memory (`tail_readings` readings at most), so a consumer that keeps up
reads them back without a query or a msgpack decode; the file stays the source of truth after a restart.

Refused messages wait here too, in the `refused` table, on their way to the dead letters: the ingester writes
those of a batch in the transaction of its append, and a consumer those of the readings it could not deliver
(points the database refused) in the transaction that moves its cursor past them. So a refusal is durable
exactly when what it refuses is acknowledged or passed; `ingest.mover` moves the rows into the dead letters
(at least once, de-duplicated there by row id and `spool_id`) and then deletes them here.

The class is synchronous (sqlite3 blocks); the service calls it through `asyncio.to_thread`. A lock serialises
the connection, so it is safe to share between threads.
"""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
import threading
from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from devices.reading import Reading
from ingest.errors import SpoolClosedError, SpoolError, SpoolFullError
from ingest.refusals import RefusedMessage

DEFAULT_CONSUMERS = ("telemetry",)
REFUSED_PAYLOAD_MAX = 65_536
"""Default cut of a refused message's payload in the spool (its original size is kept): the dead letters keep no
more (`ingest.deadletter.DeadLetters.max_payload_bytes`)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    first INTEGER PRIMARY KEY,
    last INTEGER NOT NULL,
    appended_at REAL NOT NULL,
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS cursors (
    consumer TEXT PRIMARY KEY,
    position INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS refused (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    payload_size INTEGER NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    received_at REAL NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What `append` did: `last_offset` is the offset of the last stored reading (unchanged when every item was
    a duplicate); `duplicates` holds the items that were not stored because they were seen before."""

    last_offset: int
    stored: int
    duplicates: list[Reading] = field(default_factory=list)


class Spool:
    """A durable log of readings with named consumers. See the module docstring for the guarantees."""

    def __init__(
        self,
        path: str | Path,
        max_bytes: int = 2 * 1024**3,
        *,
        consumers: Iterable[str] = DEFAULT_CONSUMERS,
        dedup_window: int = 100_000,
        tail_readings: int = 50_000,
        refused_payload_max: int = REFUSED_PAYLOAD_MAX,
    ) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.refused_payload_max = refused_payload_max
        self.consumers = tuple(dict.fromkeys(consumers))
        if not self.consumers:
            raise SpoolError("a spool needs at least one consumer")
        self.dedup_window = dedup_window
        self._lock = threading.Lock()
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(list[Reading])
        self._seen: OrderedDict[tuple[str, int], float] = OrderedDict()
        self._tail: deque[tuple[int, list[Reading]]] = deque()  # (first offset, readings), oldest first
        self._tail_count = 0
        self.tail_readings = tail_readings
        self._closed = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=10000")
            self._db.executescript(_SCHEMA)
            self._page_size = int(self._db.execute("PRAGMA page_size").fetchone()[0])
            row = self._db.execute("SELECT value FROM meta WHERE key = 'next_offset'").fetchone()
            self._next = int(row[0]) if row else 1
            # which spool numbered the refused rows: the dead letters remember how far they moved per spool_id
            self._db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('spool_id', ?)", (secrets.randbits(62),))
            self.spool_id = str(self._db.execute("SELECT value FROM meta WHERE key = 'spool_id'").fetchone()[0])
            # a new consumer starts where the slowest existing one is, so it sees everything not yet consumed
            (slowest,) = self._db.execute("SELECT min(position) FROM cursors").fetchone()
            start = int(slowest) if slowest is not None else self._next - 1
            for name in self.consumers:
                self._db.execute("INSERT OR IGNORE INTO cursors (consumer, position) VALUES (?, ?)", (name, start))
            self._load_seen()
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot open spool {self.path}: {exc}") from exc

    # --- writing ------------------------------------------------------------------------------------------

    def append(
        self, batch: Sequence[Reading], now: float = 0.0, refused: Sequence[RefusedMessage] = ()
    ) -> AppendResult:
        """Store `batch` and the `refused` messages that came with it durably in one transaction; return the last
        offset and the duplicates left out.

        Raises `SpoolFullError` (nothing stored) when the spool already holds `max_bytes`, so the caller can hold
        back acknowledgements until consumers catch up."""
        if not batch and not refused:
            return AppendResult(self.last_offset, 0)
        with self._lock:
            self._check_open()
            size = self._size_unlocked()
            if size >= self.max_bytes:
                raise SpoolFullError(size, self.max_bytes)
            fresh: list[Reading] = []
            duplicates: list[Reading] = []
            pairs: dict[tuple[str, int], float] = {}
            for r in batch:
                if r.seq is not None:
                    key = (r.device_id, r.seq)
                    prev = pairs.get(key, self._seen.get(key))
                    if prev is not None and prev == r.ts:
                        duplicates.append(r)
                        continue
                    pairs[key] = r.ts
                fresh.append(r)
            if not fresh and not refused:
                return AppendResult(self._next - 1, 0, duplicates)
            first, last = self._next, self._next + len(fresh) - 1
            try:
                with _transaction(self._db):
                    if fresh:
                        self._db.execute(
                            "INSERT INTO batches (first, last, appended_at, data) VALUES (?, ?, ?, ?)",
                            (first, last, now, self._encoder.encode(fresh)),
                        )
                        self._db.execute(
                            "INSERT OR REPLACE INTO meta (key, value) VALUES ('next_offset', ?)", (last + 1,)
                        )
                    _insert_refused(self._db, refused, self.refused_payload_max)
            except sqlite3.Error as exc:
                raise SpoolError(f"cannot append to spool: {exc}") from exc
            if not fresh:
                return AppendResult(self._next - 1, 0, duplicates)
            self._next = last + 1
            self._tail.append((first, fresh))
            self._tail_count += len(fresh)
            while self._tail_count > self.tail_readings and len(self._tail) > 1:
                self._tail_count -= len(self._tail.popleft()[1])
            for key, ts in pairs.items():
                self._seen[key] = ts
                self._seen.move_to_end(key)
            while len(self._seen) > self.dedup_window:
                self._seen.popitem(last=False)
            return AppendResult(last, len(fresh), duplicates)

    # --- reading ------------------------------------------------------------------------------------------

    def read(self, consumer: str, limit: int = 5000) -> list[tuple[int, Reading]]:
        """Up to `limit` readings after `consumer`'s cursor, oldest first, as (offset, reading)."""
        with self._lock:
            self._check_open()
            return self._read_unlocked(self._position_unlocked(consumer), limit)

    def read_after(self, offset: int, limit: int = 5000) -> list[tuple[int, Reading]]:
        """Up to `limit` readings with offsets above `offset`, for a consumer with reads in flight past its
        cursor. Readings already truncated are skipped, so pass an offset at or above the consumer's cursor."""
        with self._lock:
            self._check_open()
            return self._read_unlocked(offset, limit)

    def _read_unlocked(self, position: int, limit: int) -> list[tuple[int, Reading]]:
        out: list[tuple[int, Reading]] = []
        if self._tail and self._tail[0][0] <= position + 1:
            for first, readings in self._tail:
                if first + len(readings) - 1 <= position:
                    continue
                for i in range(max(0, position + 1 - first), len(readings)):
                    out.append((first + i, readings[i]))
                    if len(out) >= limit:
                        return out
            return out
        return _read_batches(self._db, self._decoder, position, limit)

    def commit(self, consumer: str, offset: int, refused: Sequence[RefusedMessage] = ()) -> None:
        """Record that `consumer` has finished every reading up to and including `offset` (never moves back), and
        keep the `refused` messages it could not deliver, in one transaction."""
        with self._lock:
            self._check_open()
            self._position_unlocked(consumer)
            _commit(self._db, self.path, consumer, offset, refused, self.refused_payload_max)

    # --- refused messages, on their way to the dead letters ------------------------------------------------

    def refused(self, limit: int = 1000, max_bytes: int = 16 * 1024**2) -> list[tuple[int, RefusedMessage]]:
        """The oldest refused messages as (row id, message): at most `limit`, and no more payload bytes than
        `max_bytes` beyond the first row. Row ids only grow, also across deletions."""
        out: list[tuple[int, RefusedMessage]] = []
        size = 0
        with self._lock:
            self._check_open()
            try:
                cur = self._db.execute(
                    "SELECT id, topic, payload, payload_size, reason, detail, received_at FROM refused "
                    "ORDER BY id LIMIT ?",
                    (limit,),
                )
                for row_id, topic, payload, payload_size, reason, detail, received_at in cur:
                    size += len(payload)
                    if out and size > max_bytes:
                        break
                    out.append(
                        (int(row_id), RefusedMessage(topic, bytes(payload), reason, detail, received_at, payload_size))
                    )
            except sqlite3.Error as exc:
                raise SpoolError(f"cannot read refused messages: {exc}") from exc
        return out

    def forget_refused(self, up_to: int) -> None:
        """Delete the refused messages with row ids up to and including `up_to` (their dead letters are kept)."""
        with self._lock:
            self._check_open()
            try:
                self._db.execute("DELETE FROM refused WHERE id <= ?", (up_to,))
            except sqlite3.Error as exc:
                raise SpoolError(f"cannot delete refused messages: {exc}") from exc

    def position(self, consumer: str) -> int:
        with self._lock:
            self._check_open()
            return self._position_unlocked(consumer)

    @property
    def last_offset(self) -> int:
        """Offset of the newest reading ever appended (0 when none)."""
        return self._next - 1

    def depth(self, consumer: str) -> int:
        """How many readings `consumer` has still to process."""
        return self.last_offset - self.position(consumer)

    def oldest_age(self, consumer: str, now: float) -> float:
        """Seconds since the oldest reading `consumer` has not processed was appended; 0 when caught up."""
        with self._lock:
            self._check_open()
            position = self._position_unlocked(consumer)
            try:
                row = self._db.execute(
                    "SELECT appended_at FROM batches WHERE last > ? ORDER BY first LIMIT 1", (position,)
                ).fetchone()
            except sqlite3.Error as exc:
                raise SpoolError(f"cannot read the age of {consumer!r}'s backlog: {exc}") from exc
        return max(0.0, now - float(row[0])) if row else 0.0

    # --- housekeeping -------------------------------------------------------------------------------------

    def truncate(self) -> int:
        """Delete batches every consumer has passed and that hold none of the newest `dedup_window` readings;
        return the number of batches deleted."""
        with self._lock:
            self._check_open()
            try:
                placeholders = ",".join("?" * len(self.consumers))
                (low,) = self._db.execute(
                    f"SELECT min(position) FROM cursors WHERE consumer IN ({placeholders})", self.consumers
                ).fetchone()
                keep_from = self._next - self.dedup_window  # offsets from here on back the dedup window
                if self._size_unlocked() >= self.max_bytes * 0.9:
                    keep_from = low + 1  # space for new readings matters more than remembering old ones
                deleted = self._db.execute(
                    "DELETE FROM batches WHERE last <= ? AND last < ?", (low, keep_from)
                ).rowcount
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise SpoolError(f"cannot truncate spool: {exc}") from exc
            return int(deleted)

    def size_bytes(self) -> int:
        """Bytes of live pages in the spool file (free pages left by truncation do not count)."""
        with self._lock:
            self._check_open()
            return self._size_unlocked()

    def writable(self) -> bool:
        """True when the file is open and below `max_bytes`; for readiness probes."""
        try:
            return self.size_bytes() < self.max_bytes
        except SpoolError:
            return False

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals ----------------------------------------------------------------------------------------

    def _load_seen(self) -> None:
        """Rebuild the dedup window from the newest retained batches."""
        rows: list[bytes] = []
        count = 0
        for last, first, data in self._db.execute("SELECT last, first, data FROM batches ORDER BY first DESC"):
            rows.append(data)
            count += int(last) - int(first) + 1
            if count >= self.dedup_window:
                break
        for data in reversed(rows):
            for r in self._decoder.decode(data):
                if r.seq is not None:
                    key = (r.device_id, r.seq)
                    self._seen[key] = r.ts
                    self._seen.move_to_end(key)
        while len(self._seen) > self.dedup_window:
            self._seen.popitem(last=False)

    def _check_open(self) -> None:
        if self._closed:
            raise SpoolClosedError(f"spool {self.path} is closed")

    def _position_unlocked(self, consumer: str) -> int:
        try:
            row = self._db.execute("SELECT position FROM cursors WHERE consumer = ?", (consumer,)).fetchone()
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot read the cursor of {consumer!r}: {exc}") from exc
        if row is None:
            raise SpoolError(f"unknown spool consumer {consumer!r}; known: {', '.join(self.consumers)}")
        return int(row[0])

    def _size_unlocked(self) -> int:
        try:
            pages = int(self._db.execute("PRAGMA page_count").fetchone()[0])
            free = int(self._db.execute("PRAGMA freelist_count").fetchone()[0])
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot measure spool: {exc}") from exc
        return (pages - free) * self._page_size


class SpoolReader:
    """Another process's view of a spool: read after a consumer's cursor and move that cursor, nothing else.

    The telemetry drain process (`ingest.drainer`) uses it so that line protocol, gzip and HTTP cost the
    ingester's process no CPU. The file must exist (the ingester's `Spool` creates it and the cursors); WAL
    lets this reader work while the ingester appends, and the ingester's `truncate()` sees the cursor moves."""

    def __init__(self, path: str | Path, refused_payload_max: int = REFUSED_PAYLOAD_MAX) -> None:
        self.path = Path(path)
        self.refused_payload_max = refused_payload_max
        self._lock = threading.Lock()
        self._decoder = msgspec.msgpack.Decoder(list[Reading])
        self._closed = False
        if not self.path.exists():
            raise SpoolError(f"spool {self.path} does not exist (the ingester creates it)")
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA busy_timeout=10000")
            self._db.execute("PRAGMA synchronous=FULL")
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot open spool {self.path}: {exc}") from exc

    def position(self, consumer: str) -> int:
        with self._lock:
            self._check_open()
            try:
                row = self._db.execute("SELECT position FROM cursors WHERE consumer = ?", (consumer,)).fetchone()
            except sqlite3.Error as exc:
                raise SpoolError(f"cannot read cursor of {consumer!r}: {exc}") from exc
            if row is None:
                raise SpoolError(f"spool {self.path} has no consumer {consumer!r}")
            return int(row[0])

    def read_after(self, offset: int, limit: int = 5000) -> list[tuple[int, Reading]]:
        with self._lock:
            self._check_open()
            return _read_batches(self._db, self._decoder, offset, limit)

    def commit(self, consumer: str, offset: int, refused: Sequence[RefusedMessage] = ()) -> None:
        """As `Spool.commit`: the cursor and the `refused` messages in one transaction."""
        with self._lock:
            self._check_open()
            _commit(self._db, self.path, consumer, offset, refused, self.refused_payload_max)

    def data_version(self) -> int:
        """A number that changes whenever another connection (the ingester) commits to the file."""
        with self._lock:
            self._check_open()
            try:
                return int(self._db.execute("PRAGMA data_version").fetchone()[0])
            except sqlite3.Error as exc:
                raise SpoolError(f"cannot read the version of spool {self.path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    def _check_open(self) -> None:
        if self._closed:
            raise SpoolClosedError(f"spool {self.path} is closed")


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One write transaction on an autocommit connection: committed at the end, rolled back on any error."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _insert_refused(db: sqlite3.Connection, refused: Sequence[RefusedMessage], payload_max: int) -> None:
    if refused:
        db.executemany(
            "INSERT INTO refused (topic, payload, payload_size, reason, detail, received_at) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    r.topic,
                    bytes(r.payload[:payload_max]),
                    len(r.payload) if r.payload_size is None else r.payload_size,
                    str(r.reason),
                    r.detail,
                    float(r.received_at),
                )
                for r in refused
            ],
        )


def _commit(
    db: sqlite3.Connection,
    path: Path,
    consumer: str,
    offset: int,
    refused: Sequence[RefusedMessage],
    payload_max: int,
) -> None:
    """Move `consumer`'s cursor to `offset` (never back) and keep `refused`, in one transaction."""
    try:
        with _transaction(db):
            updated = db.execute(
                "UPDATE cursors SET position = max(position, ?) WHERE consumer = ?", (offset, consumer)
            ).rowcount
            if updated != 1:
                raise SpoolError(f"spool {path} has no consumer {consumer!r}")
            _insert_refused(db, refused, payload_max)
    except sqlite3.Error as exc:
        raise SpoolError(f"cannot commit cursor of {consumer!r}: {exc}") from exc


def _read_batches(
    db: sqlite3.Connection, decoder: msgspec.msgpack.Decoder[list[Reading]], position: int, limit: int
) -> list[tuple[int, Reading]]:
    """Up to `limit` readings with offsets above `position`, from the file."""
    out: list[tuple[int, Reading]] = []
    try:
        cur = db.execute("SELECT first, data FROM batches WHERE last > ? ORDER BY first", (position,))
        for first, data in cur:
            readings = decoder.decode(data)
            for i, r in enumerate(readings):
                offset = first + i
                if offset > position:
                    out.append((offset, r))
                    if len(out) >= limit:
                        return out
    except sqlite3.Error as exc:
        raise SpoolError(f"cannot read spool: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise SpoolError(f"spool entry cannot be decoded: {exc}") from exc
    return out
