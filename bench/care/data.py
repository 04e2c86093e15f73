"""The real household data: where it lives, and its rows as one series of (epoch seconds, litres) per household.

The CSV (`;`-separated: `user key;datetime;meter reading;diff`) gives the local wall-clock time of the trial
site. The DAIAD smart-water-meter trial ran in Alicante, Spain, so the zone is `Europe/Madrid`; the data
agrees: on 27/03/2016 the 02:xx readings are missing and on 30/10/2016 the 02:xx hour appears twice, the
days the clocks of that zone went forward and back at 02:00 and 03:00 local time. A time of the repeated hour
is placed in whichever of its two instants is later than the household's previous row and closer to one
hour after it (the meters report hourly); a row at or before the previous one of its household (an exact
duplicate, 30 of them) is dropped and counted.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

TZ = "Europe/Madrid"
FILE = "daiad-swm-trial-a-part1.csv.gz"
ROOT = Path(__file__).resolve().parents[2]
Floats = npt.NDArray[np.float64]


class DataMissingError(Exception):
    """The shared data is not where the benchmark looks for it."""


def find_data(explicit: Path | None = None, root: Path = ROOT) -> Path:
    """The CSV: `explicit` if given, else `shared/data/<FILE>` beside the project (`../shared/data`), or beside
    one of its parent folders (a git worktree lives one level deeper than the repository it belongs to)."""
    if explicit is not None:
        if explicit.is_dir():
            explicit = explicit / FILE
        if not explicit.is_file():
            raise DataMissingError(
                f"the real household data is absent: {explicit} does not exist (the file {FILE} of "
                "../shared/data; see its README). Nothing was measured."
            )
        return explicit
    tried = []
    for base in root.parents:
        p = base / "shared" / "data" / FILE
        tried.append(str(p))
        if p.is_file():
            return p
    raise DataMissingError(
        "the real household data is absent: looked for "
        + ", ".join(tried[:3])
        + f" (the file {FILE} of ../shared/data; see its README). Nothing was measured."
    )


@dataclass
class Household:
    """One household's meter: reading times (epoch s, increasing) and the register (litres) at each."""

    key: str
    ts: Floats
    litres: Floats

    @property
    def days(self) -> float:
        return float(self.ts[-1] - self.ts[0]) / 86_400.0 if len(self.ts) > 1 else 0.0


@dataclass
class Dataset:
    households: dict[str, Household]
    dropped: int = 0  # rows at or before their household's previous row
    rows: int = 0
    tz: str = TZ
    notes: list[str] = field(default_factory=list)


def _rows(path: Path) -> Iterator[list[str]]:
    with gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        lines = (line for line in text if not line.startswith("#"))  # a test fixture names its source so
        reader = csv.reader(lines, delimiter=";")
        next(reader, None)  # header
        yield from reader


def load(path: Path, tz: str = TZ) -> Dataset:
    """Every household's series from the CSV at `path` (gzip or plain)."""
    zone = ZoneInfo(tz)
    times: dict[str, list[float]] = {}
    values: dict[str, list[float]] = {}
    dropped = rows = 0
    for row in _rows(path):
        if len(row) < 3 or not row[0]:
            continue
        rows += 1
        key, stamp, reading = row[0], row[1].strip(), row[2].strip()
        local = datetime.strptime(stamp, "%d/%m/%Y %H:%M:%S")
        ts_list = times.setdefault(key, [])
        prev = ts_list[-1] if ts_list else None
        ts = _instant(local, zone, prev)
        if prev is not None and ts <= prev:
            dropped += 1
            continue
        ts_list.append(ts)
        values.setdefault(key, []).append(float(reading))  # R wrote 200000 as "2e+05"
    hs = {
        k: Household(k, np.asarray(times[k], dtype=np.float64), np.asarray(values[k], dtype=np.float64)) for k in times
    }
    return Dataset(hs, dropped, rows, tz)


def _instant(local: datetime, zone: ZoneInfo, prev: float | None) -> float:
    """Epoch seconds of a wall-clock time; in the repeated hour, the instant that follows `prev` best."""
    first = local.replace(tzinfo=zone, fold=0).timestamp()
    second = local.replace(tzinfo=zone, fold=1).timestamp()
    if first == second or prev is None:
        return first
    later = [t for t in (first, second) if t > prev]
    if not later:
        return first  # not after the previous row either way: the caller drops it
    return min(later, key=lambda t: abs(t - (prev + 3600.0)))
