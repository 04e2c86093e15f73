"""InfluxDB line protocol for a `Reading`, with the escaping rules of the protocol, built with plain string
formatting (an `influxdb_client.Point` costs ~4x more per point; engineering notes).

Schema (docs/influxdb-schema.md): measurement = device class; tags = building, channel, class, community,
device, household (only for in-home devices), microgrid; fields = the reading's scalar fields plus `seq`;
timestamp = device time in ns, rounded to the microsecond, so a replayed message overwrites itself.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from devices.reading import Reading
from ingest.errors import IngestError

__all__ = ["LineProtocolError", "escape_key", "escape_measurement", "escape_string", "line", "lines", "timestamp_ns"]

_I64_MAX = 2**63 - 1
_MEASUREMENT = str.maketrans({",": "\\,", " ": "\\ ", "\n": "\\n", "\r": "\\r", "\t": "\\t"})
_KEY = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ ", "\n": "\\n", "\r": "\\r", "\t": "\\t"})
_KEY_SPECIAL = re.compile(r"[,= \n\r\t\\]").search  # what `_KEY` changes, and a backslash
_STRING = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r"})
_CACHE_MAX = 100_000
"""Field names in `_key_cache` (a schema has a few dozen; the bound only keeps junk from growing it)."""
_PREFIX_CACHE_MAX = 1 << 19
"""Series (device, channel and place) in `_prefix_cache`: more than a district's (~195,000 devices, one or two
channels each; ~360 bytes a series, 70 MB for one each). Devices report round-robin, so a cache smaller than the
series it sees misses every time (a miss builds the prefix again: more than a point's other work)."""
_key_cache: dict[str, str] = {}
_prefix_cache: dict[tuple[str, str, str, str, str, str, str | None], str] = {}


class LineProtocolError(IngestError, ValueError):
    """The reading cannot be written as a point (no fields, a non-finite number, time out of range)."""


def escape_measurement(name: str) -> str:
    return name.translate(_MEASUREMENT)


def escape_key(name: str) -> str:
    """Escape a tag key, tag value or field key. Line endings, which the protocol forbids there, are written as
    `\\n`; a trailing backslash (which would escape the separator after it) gets a `_` after it. Ids of
    protocol v1 contain neither, so these only keep junk from breaking a batch."""
    out = _key_cache.get(name)
    if out is None:
        out = _escape_key(name)
        if len(_key_cache) >= _CACHE_MAX:
            _key_cache.clear()
        _key_cache[name] = out
    return out


def _escape_key(name: str) -> str:
    """`escape_key` without the cache: for tag values (ids), each built into a series' prefix once. An id with
    nothing to escape (all of protocol v1's) is found so by a regex search, a quarter of a `translate`."""
    if _KEY_SPECIAL(name) is None:
        return name
    out = name.translate(_KEY)
    if out.endswith("\\"):
        out += "_"  # a trailing backslash escapes the separator (and influxd 1.6 refuses a doubled one too)
    return out


def escape_string(value: str) -> str:
    """A string field value, quoted. Newlines are written as `\\n` so a point stays on one line."""
    return '"' + value.translate(_STRING) + '"'


def timestamp_ns(ts: float) -> int:
    """Device time in ns, rounded to the microsecond so the same `ts` always gives the same point time."""
    if not math.isfinite(ts):
        raise LineProtocolError(f"timestamp {ts!r} is not finite")
    ns = round(ts * 1_000_000) * 1000
    if not -_I64_MAX <= ns <= _I64_MAX:
        raise LineProtocolError(f"timestamp {ts!r} is outside InfluxDB's time range (1677-2262)")
    return ns


def _prefix(r: Reading) -> str:
    key = (r.device_class.value, r.building_id, r.channel.value, r.community_id, r.device_id, r.microgrid_id,
           r.household_id)  # fmt: skip
    out = _prefix_cache.get(key)
    if out is None:
        cls, building, channel, community, device, microgrid, household = key
        k = _escape_key  # ids are many (a district's devices): they would crowd the field names out of `_key_cache`
        hh = f",household={k(household)}" if household else ""
        out = (
            f"{escape_measurement(cls)},building={k(building)},channel={k(channel)},class={k(cls)},"
            f"community={k(community)},device={k(device)}{hh},microgrid={k(microgrid)} "
        )
        if len(_prefix_cache) >= _PREFIX_CACHE_MAX:
            _prefix_cache.clear()
        _prefix_cache[key] = out
    return out


def line(r: Reading) -> str:
    """One point, without a trailing newline. Raises LineProtocolError."""
    parts: list[str] = []
    keys = _key_cache
    for name, v in r.fields.items():
        key = keys.get(name) or escape_key(name)
        cls = v.__class__
        if cls is float:
            if v - v != 0:  # type: ignore[operator]  # NaN or ±inf, without a function call
                raise LineProtocolError(f"field {name!r} is {v!r}")
            parts.append(f"{key}={v!r}")
        elif cls is bool:
            parts.append(f"{key}=true" if v else f"{key}=false")
        elif cls is int:
            parts.append(f"{key}={v}i")
        elif cls is str:
            parts.append(f"{key}={escape_string(v)}")  # type: ignore[arg-type]
        else:
            parts.append(_subclassed(name, key, v))
    if r.seq is not None:
        parts.append(f"seq={r.seq}i")
    if not parts:
        raise LineProtocolError(f"reading of {r.device_id} at {r.ts} has no fields")
    return f"{_prefix(r)}{','.join(parts)} {timestamp_ns(r.ts)}"


def _subclassed(name: str, key: str, v: object) -> str:
    """Values of a subclass of a scalar type (an IntEnum, a StrEnum); rare, so off the fast path."""
    if isinstance(v, bool):
        return f"{key}={'true' if v else 'false'}"
    if isinstance(v, int):
        return f"{key}={int(v)}i"
    if isinstance(v, float):
        if not math.isfinite(v):
            raise LineProtocolError(f"field {name!r} is {v!r}")
        return f"{key}={float(v)!r}"
    if isinstance(v, str):
        return f"{key}={escape_string(str(v))}"
    raise LineProtocolError(f"field {name!r} has unsupported type {type(v).__name__}")


def lines(readings: Iterable[Reading]) -> tuple[list[tuple[Reading, str]], list[tuple[Reading, str]]]:
    """(reading, point) for every reading that can be written, in order, and (reading, why not) for the rest."""
    ok: list[tuple[Reading, str]] = []
    bad: list[tuple[Reading, str]] = []
    for r in readings:
        try:
            ok.append((r, line(r)))
        except LineProtocolError as e:
            bad.append((r, str(e)))
    return ok, bad
